SUMMARY = "Read key-value pairs from a .env file and set them as environment variables"
DESCRIPTION = "python-dotenv reads a .env file and sets its key-value pairs as environment variables; pydantic-settings uses it for dotenv support."
HOMEPAGE = "https://github.com/theskumar/python-dotenv"
SECTION = "devel/python"
LICENSE = "BSD-3-Clause"
LIC_FILES_CHKSUM = "file://LICENSE;md5=e914cdb773ae44a732b392532d88f072"

SRC_URI[sha256sum] = "e324ee90a023d808f1959c46bcbc04446a10ced277783dc6ee09987c37ec10ca"

PYPI_PACKAGE = "python-dotenv"

inherit pypi setuptools3

RDEPENDS:${PN} += "\
    python3-io \
    python3-logging \
"

BBCLASSEXTEND = "native nativesdk"
