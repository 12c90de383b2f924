SUMMARY = "Typer: command line interfaces from Python type hints (slim)"
DESCRIPTION = "Typer builds command line interfaces from Python type hints; typer-slim is the distribution without rich and shellingham. josev CLI is built with it."
HOMEPAGE = "https://github.com/fastapi/typer"
SECTION = "devel/python"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://LICENSE;md5=173d405eb704b1499218013178722617"

SRC_URI[sha256sum] = "c8e3fcf93cc7dd584036df8755d2e2363f85f8a4dd028c7911eed3f00cf0ebb1"

# The import name is `typer`, like styhead's python3-typer (the full distribution with rich): an image
# holds one of the two.
PYPI_PACKAGE = "typer_slim"

inherit pypi python_pep517

DEPENDS += "python3-pdm-backend-native"

RDEPENDS:${PN} += "\
    python3-click \
    python3-typing-extensions \
"

RCONFLICTS:${PN} = "python3-typer"

BBCLASSEXTEND = "native nativesdk"
