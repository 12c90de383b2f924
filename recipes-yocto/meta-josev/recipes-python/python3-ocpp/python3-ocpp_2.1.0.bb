SUMMARY = "OCPP 1.6, 2.0.1 and 2.1 message types, validation and routing"
DESCRIPTION = "The Open Charge Point Protocol (JSON) library of The Mobility House, used by josev's OCPP client."
HOMEPAGE = "https://github.com/mobilityhouse/ocpp"
SECTION = "devel/python"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://LICENSE;md5=357da596bd4bc9004894e2feaaa1e975"

SRC_URI[sha256sum] = "d29bfafb7161f75a78314f5cfd1b82fdf155082cd0f4de48c4dc8e5741422cf0"

inherit pypi python_poetry_core

# ocpp 2.1.0 asks for poetry-core >= 2 in [build-system]; its metadata is the classic [tool.poetry] table,
# which the poetry-core 1.9 of scarthgap builds. Skip the version check of `python -m build`.
PEP517_BUILD_OPTS = "--skip-dependency-check"

RDEPENDS:${PN} += "\
    python3-asyncio \
    python3-json \
    python3-jsonschema \
    python3-logging \
"

BBCLASSEXTEND = "native nativesdk"
