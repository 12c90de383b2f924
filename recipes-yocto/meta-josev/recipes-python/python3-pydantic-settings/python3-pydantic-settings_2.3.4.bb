SUMMARY = "Settings management with pydantic"
DESCRIPTION = "Settings management for pydantic models from environment variables, dotenv and secrets files; josev reads its station configuration with it."
HOMEPAGE = "https://github.com/pydantic/pydantic-settings"
SECTION = "devel/python"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://LICENSE;md5=9adde1a30a7e74a03e57e456551c19ae"

SRC_URI[sha256sum] = "c5802e3d62b78e82522319bbc9b8f8ffb28ad1c988a99311d04f2a6051fca0a7"

# 2.3.4 is the newest release that needs no more than the pydantic 2.7 of scarthgap's meta-python.
PYPI_PACKAGE = "pydantic_settings"

inherit pypi python_hatchling

RDEPENDS:${PN} += "\
    python3-dotenv \
    python3-json \
    python3-pydantic \
"

BBCLASSEXTEND = "native nativesdk"
