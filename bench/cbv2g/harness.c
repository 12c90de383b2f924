/* Timing harness around EVerest's libcbv2g for bench/exi_cbv2g.py (josev's own code; libcbv2g itself is
 * built from ../shared/peers and never linked into josev). Schemas: 0 sap, 1 din, 2 iso2, 3 iso20-cm,
 * 4 iso20-ac, 5 iso20-dc. Every entry point returns a negative libcbv2g error code (or -1000 for an unknown
 * schema) on failure. */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "cbv2g/common/exi_bitstream.h"
#include "cbv2g/app_handshake/appHand_Decoder.h"
#include "cbv2g/app_handshake/appHand_Encoder.h"
#include "cbv2g/din/din_msgDefDecoder.h"
#include "cbv2g/din/din_msgDefEncoder.h"
#include "cbv2g/iso_2/iso2_msgDefDecoder.h"
#include "cbv2g/iso_2/iso2_msgDefEncoder.h"
#include "cbv2g/iso_20/iso20_CommonMessages_Decoder.h"
#include "cbv2g/iso_20/iso20_CommonMessages_Encoder.h"
#include "cbv2g/iso_20/iso20_AC_Decoder.h"
#include "cbv2g/iso_20/iso20_AC_Encoder.h"
#include "cbv2g/iso_20/iso20_DC_Decoder.h"
#include "cbv2g/iso_20/iso20_DC_Encoder.h"

/* One document of each schema, decoded into and encoded from (fixed structs, as a libcbv2g user has). */
static union {
    struct appHand_exiDocument sap;
    struct din_exiDocument din;
    struct iso2_exiDocument iso2;
    struct iso20_exiDocument cm;
    struct iso20_ac_exiDocument ac;
    struct iso20_dc_exiDocument dc;
} doc;

static uint8_t inbuf[65536];
static uint8_t outbuf[65536];

static int dec(int schema, const uint8_t* data, size_t len) {
    exi_bitstream_t s;
    if (len > sizeof inbuf) return -1001;
    memcpy(inbuf, data, len);
    exi_bitstream_init(&s, inbuf, len, 0, NULL);
    switch (schema) {
    case 0: return -decode_appHand_exiDocument(&s, &doc.sap);
    case 1: return -decode_din_exiDocument(&s, &doc.din);
    case 2: return -decode_iso2_exiDocument(&s, &doc.iso2);
    case 3: return -decode_iso20_exiDocument(&s, &doc.cm);
    case 4: return -decode_iso20_ac_exiDocument(&s, &doc.ac);
    case 5: return -decode_iso20_dc_exiDocument(&s, &doc.dc);
    default: return -1000;
    }
}

/* Encode the document last decoded; returns the length or a negative error. */
static long enc(int schema) {
    exi_bitstream_t s;
    int e;
    exi_bitstream_init(&s, outbuf, sizeof outbuf, 0, NULL);
    switch (schema) {
    case 0: e = encode_appHand_exiDocument(&s, &doc.sap); break;
    case 1: e = encode_din_exiDocument(&s, &doc.din); break;
    case 2: e = encode_iso2_exiDocument(&s, &doc.iso2); break;
    case 3: e = encode_iso20_exiDocument(&s, &doc.cm); break;
    case 4: e = encode_iso20_ac_exiDocument(&s, &doc.ac); break;
    case 5: e = encode_iso20_dc_exiDocument(&s, &doc.dc); break;
    default: return -1000;
    }
    if (e != 0) return e > 0 ? -e : e;
    return (long)exi_bitstream_get_length(&s);
}

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Decode then re-encode once: 1 if the bytes come back identical, 0 if they differ, < 0 on an error. */
int h_roundtrip(int schema, const uint8_t* data, size_t len) {
    int e = dec(schema, data, len);
    long n;
    if (e != 0) return e < 0 ? e : -e;
    n = enc(schema);
    if (n < 0) return (int)n;
    return (size_t)n == len && memcmp(outbuf, data, len) == 0;
}

/* Nanoseconds for `n` decodes of `data` (the copy into the stream buffer is done once, outside the clock). */
int64_t h_time_decode(int schema, const uint8_t* data, size_t len, int n) {
    exi_bitstream_t s;
    int64_t t0;
    int e = 0;
    if (len > sizeof inbuf) return -1001;
    memcpy(inbuf, data, len);
    t0 = now_ns();
    for (int i = 0; i < n && e == 0; i++) {
        exi_bitstream_init(&s, inbuf, len, 0, NULL);
        switch (schema) {
        case 0: e = decode_appHand_exiDocument(&s, &doc.sap); break;
        case 1: e = decode_din_exiDocument(&s, &doc.din); break;
        case 2: e = decode_iso2_exiDocument(&s, &doc.iso2); break;
        case 3: e = decode_iso20_exiDocument(&s, &doc.cm); break;
        case 4: e = decode_iso20_ac_exiDocument(&s, &doc.ac); break;
        case 5: e = decode_iso20_dc_exiDocument(&s, &doc.dc); break;
        default: return -1000;
        }
    }
    if (e != 0) return e > 0 ? -e : e;
    return now_ns() - t0;
}

/* Nanoseconds for `n` encodes of `data` (decoded once before the clock starts). */
int64_t h_time_encode(int schema, const uint8_t* data, size_t len, int n) {
    int64_t t0;
    int e = dec(schema, data, len);
    if (e != 0) return e < 0 ? e : -e;
    t0 = now_ns();
    for (int i = 0; i < n; i++) {
        long r = enc(schema);
        if (r < 0) return r;
    }
    return now_ns() - t0;
}
