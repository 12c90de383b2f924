// Line-oriented subprocess oracle around the EXIficient-based EXICodec.jar of the PyPI package iso15118.
// Test peer only (never imported by josev). Protocol, one request per line on stdin:
//   E <namespace> <json>      -> "OK <hex>" | "ERR <message>"
//   D <namespace> <hex>       -> "OK <json>" | "ERR <message>"
//   V                         -> "OK <version>"
//   X <schema> <0|1> <xml>    -> "OK <hex>": plain EXIficient (no JAXB) on XML text with the jar's
//                                pre-built grammars and its factory settings; 1 = fragment
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

public class ExiOracle {
    static String hex(byte[] b) {
        StringBuilder sb = new StringBuilder();
        for (byte x : b) sb.append(String.format("%02x", x & 0xff));
        return sb.toString();
    }

    static final java.util.Map<String, String> GRAMMARS = java.util.Map.of(
        "sap", "CommonAppProtocol", "din", "DINSpec_70121", "iso2", "ISO15118_2Grammar",
        "iso20-cm", "ISO15118_20_V2G_CI_CommonMessages", "iso20-ac", "ISO15118_20_V2G_CI_AC",
        "iso20-dc", "ISO15118_20_V2G_CI_DC", "iso20-wpt", "ISO15118_20_V2G_CI_WPT",
        "iso20-acdp", "ISO15118_20_V2G_CI_ACDP", "xmldsig", "XMLDSIG_Core_Schema_Grammar");

    static byte[] xmlEncode(String schema, boolean fragment, String xml) throws Exception {
        com.siemens.ct.exi.core.EXIFactory f = com.siemens.ct.exi.core.helpers.DefaultEXIFactory.newInstance();
        f.setGrammars((com.siemens.ct.exi.core.grammars.Grammars) Class.forName(
            "com.siemens.ct.exi.main.generatedgrammar." + GRAMMARS.get(schema)).getDeclaredConstructor().newInstance());
        f.setValueMaxLength(0);
        f.setValuePartitionCapacity(0);
        f.setMaximumNumberOfBuiltInElementGrammars(0);
        f.setMaximumNumberOfBuiltInProductions(0);
        f.setFragment(fragment);
        com.siemens.ct.exi.main.api.sax.EXIResult r = new com.siemens.ct.exi.main.api.sax.EXIResult(f);
        java.io.ByteArrayOutputStream bos = new java.io.ByteArrayOutputStream();
        r.setOutputStream(bos);
        javax.xml.parsers.SAXParserFactory spf = javax.xml.parsers.SAXParserFactory.newInstance();
        spf.setNamespaceAware(true);
        org.xml.sax.XMLReader xr = spf.newSAXParser().getXMLReader();
        xr.setContentHandler(r.getHandler());
        xr.parse(new org.xml.sax.InputSource(new java.io.StringReader(xml)));
        return bos.toByteArray();
    }

    public static void main(String[] args) throws Exception {
        Object codec = Class.forName("com.siemens.ct.exi.main.cmd.EXICodec").getDeclaredConstructor().newInstance();
        java.lang.reflect.Method enc = codec.getClass().getMethod("encode", String.class, String.class);
        java.lang.reflect.Method dec = codec.getClass().getMethod("decode", byte[].class, String.class);
        java.lang.reflect.Method ver = codec.getClass().getMethod("get_version");
        java.lang.reflect.Method encErr = codec.getClass().getMethod("get_last_encoding_error");
        java.lang.reflect.Method decErr = codec.getClass().getMethod("get_last_decoding_error");
        PrintStream realOut = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true, "UTF-8");
        System.setOut(new PrintStream(java.io.OutputStream.nullOutputStream()));
        System.setErr(new PrintStream(java.io.OutputStream.nullOutputStream()));
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            String out;
            try {
                if (line.startsWith("V")) {
                    out = "OK " + ver.invoke(codec);
                } else if (line.startsWith("X ")) {
                    String[] parts = line.split(" ", 4);
                    out = "OK " + hex(xmlEncode(parts[1], parts[2].equals("1"), parts[3]));
                } else {
                    String[] parts = line.split(" ", 3);
                    if (parts[0].equals("E")) {
                        byte[] b = (byte[]) enc.invoke(codec, parts[2], parts[1]);
                        if (b == null) out = "ERR " + encErr.invoke(codec);
                        else {
                            StringBuilder sb = new StringBuilder();
                            for (byte x : b) sb.append(String.format("%02x", x & 0xff));
                            out = "OK " + sb;
                        }
                    } else {
                        String h = parts.length > 2 ? parts[2] : "";
                        byte[] b = new byte[h.length() / 2];
                        for (int i = 0; i < b.length; i++) b[i] = (byte) Integer.parseInt(h.substring(2 * i, 2 * i + 2), 16);
                        Object r = dec.invoke(codec, b, parts[1]);
                        out = r == null ? "ERR " + decErr.invoke(codec) : "OK " + r;
                    }
                }
            } catch (java.lang.reflect.InvocationTargetException t) {
                Throwable c = t.getCause() == null ? t : t.getCause();
                out = "ERR " + c;
            } catch (Throwable t) {
                out = "ERR " + t;
            }
            realOut.println(out.replace("\n", " ").replace("\r", " "));
        }
    }
}
