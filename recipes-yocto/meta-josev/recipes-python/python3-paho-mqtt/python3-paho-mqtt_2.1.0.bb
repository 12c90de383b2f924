SUMMARY = "MQTT 5.0 / 3.1.1 client library"
DESCRIPTION = "The Eclipse Paho MQTT client: MQTT 5.0, 3.1.1 and 3.1, used by every josev service to reach the local broker."
HOMEPAGE = "https://eclipse.dev/paho/"
SECTION = "devel/python"
LICENSE = "EPL-2.0 | EDL-1.0"
LIC_FILES_CHKSUM = "file://LICENSE.txt;md5=8e5f264c6988aec56808a3a11e77b913 \
                    file://edl-v10;md5=c09f121939f063aeb5235972be8c722c"

SRC_URI[sha256sum] = "12d6e7511d4137555a3f6ea167ae846af2c7357b10bc6fa4f7c3968fc1723834"

# josev needs paho-mqtt >= 2.1; scarthgap's meta-python has 2.0.0 (this layer's priority makes 2.1.0 win).
PYPI_PACKAGE = "paho_mqtt"

inherit pypi python_hatchling

RDEPENDS:${PN} += "\
    python3-io \
    python3-logging \
    python3-math \
    python3-netclient \
    python3-threading \
"

BBCLASSEXTEND = "native nativesdk"
