# What `cmake --install` puts under the prefix and how CPack makes the .deb
# of it (docs/install.md). Included from the top-level CMakeLists.txt.
#
# The layout is fixed relative to the prefix, not taken from GNUInstallDirs:
# berthd finds berth-model beside itself and the catalog in ../share/berth,
# so bin/ and share/ must stay siblings whatever the prefix.
#   PREFIX/bin/{berthd,berth,berth-model,berth-sim}
#   PREFIX/share/berth/instance-types.json       the instance-type catalog
#   PREFIX/share/berth/console/                  the console (served embedded)
#   PREFIX/share/berth/grafana/                  the Grafana dashboard
#   PREFIX/share/man/man1, man8                  man pages
#   PREFIX/share/doc/berth/                      README and docs/*.md
#   PREFIX/lib/systemd/system/berthd.service     the unit (its paths say PREFIX)

set(BERTH_INSTALLED_PROGRAMS berthd berth-cli berth-model berth-sim)
install(TARGETS ${BERTH_INSTALLED_PROGRAMS} RUNTIME DESTINATION bin)
# `make install` and cpack would otherwise build every target first, tests,
# fuzzers and benchmarks included; the package needs only the programs, and
# `make deb` below builds just those.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/share/berth/ DESTINATION share/berth)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/share/console/ DESTINATION share/berth/console)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/share/grafana/ DESTINATION share/berth/grafana)
install(FILES ${CMAKE_SOURCE_DIR}/docs/man/berth.1 ${CMAKE_SOURCE_DIR}/docs/man/berth-sim.1
              ${CMAKE_SOURCE_DIR}/docs/man/berth-model.1 DESTINATION share/man/man1)
install(FILES ${CMAKE_SOURCE_DIR}/docs/man/berthd.8 DESTINATION share/man/man8)
install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION share/doc/berth)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/docs/ DESTINATION share/doc/berth/docs
        FILES_MATCHING PATTERN "*.md" PATTERN "man" EXCLUDE)

# The unit names the installed berthd, so it is written at install time,
# when CMAKE_INSTALL_PREFIX holds the prefix actually installed to (the
# --prefix of cmake --install, /usr for the .deb), not the configured one.
install(CODE "
  set(BERTH_BINDIR \"\${CMAKE_INSTALL_PREFIX}/bin\")
  set(BERTH_DOCDIR \"\${CMAKE_INSTALL_PREFIX}/share/doc/berth\")
  configure_file(\"${CMAKE_SOURCE_DIR}/packaging/berthd.service.in\"
                 \"${CMAKE_BINARY_DIR}/packaging/berthd.service\" @ONLY)
")
install(FILES ${CMAKE_BINARY_DIR}/packaging/berthd.service DESTINATION lib/systemd/system)

# ------------------------------------------------------------------ CPack
# `make deb` (or `cpack -G DEB` once the programs are built) writes
# BUILD/berth_VERSION_ARCH.deb. The version is berthd's own (BERTH_VERSION in
# src/berthd/main.c), so `berthd version` and dpkg agree.
file(STRINGS ${CMAKE_SOURCE_DIR}/src/berthd/main.c BERTH_VERSION_LINE
     REGEX "^#define BERTH_VERSION \"[0-9.]+\"")
string(REGEX REPLACE ".*\"([0-9.]+)\".*" "\\1" BERTH_VERSION "${BERTH_VERSION_LINE}")
if(NOT BERTH_VERSION)
  message(FATAL_ERROR "packaging/install.cmake: no '#define BERTH_VERSION \"X.Y.Z\"' in "
          "src/berthd/main.c, which the package takes its version from")
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME berth)
set(CPACK_PACKAGE_VERSION ${BERTH_VERSION})
set(CPACK_PACKAGE_CONTACT "Berth maintainers <berth@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "many ML models on a shared fleet, with the SageMaker Inference Components API")
string(CONCAT CPACK_PACKAGE_DESCRIPTION
    "Berth hosts many ML models on a shared fleet of instances the way Amazon SageMaker\n"
    "Inference Components do. It speaks the SageMaker wire APIs (the AWS SDKs work\n"
    "against it unchanged), places copies of each model on instances, routes every\n"
    "request to a copy of the model it names and keeps each at its copy count.\n"
    "This package has berthd (controller, router, agent) as a systemd service,\n"
    "the berth CLI, the berth-model reference server and the berth-sim simulator.")
# The package's files live under /usr; the unit and maintainer scripts
# name /usr/bin/berthd. DESTDIR staging keeps CMAKE_INSTALL_PREFIX at /usr
# while CPack installs, which the unit's install(CODE) above relies on.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Shared-library dependencies from dpkg-shlibdeps (dpkg-dev): libuv1,
# libjansson4, libsqlite3-0, libssl3, libcurl4, libarchive13, libpq5, libc6.
# adduser for the berth user the postinst makes.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
# Container copies (docs/models.md) need an engine; process copies do not.
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "podman | docker.io, runc")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/packaging/debian/postinst
    ${CMAKE_SOURCE_DIR}/packaging/debian/prerm
    ${CMAKE_SOURCE_DIR}/packaging/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
add_custom_target(deb COMMAND ${CMAKE_CPACK_COMMAND} -G DEB
                  WORKING_DIRECTORY ${CMAKE_BINARY_DIR}
                  COMMENT "Packaging berth_${BERTH_VERSION} (.deb)" VERBATIM)
add_dependencies(deb ${BERTH_INSTALLED_PROGRAMS})
