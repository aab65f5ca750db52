# What `cmake --install` puts in place (docs/embedding.md):
#
#   include/raftkv/{common,raft,storage,transport,kv}/*.h
#   lib/libraft.{a,so}     the Raft core alone (raft + common)
#   lib/libraftkv.{a,so}   the node: core, storage (WAL), transports
#                          (in-memory and gRPC) and the key-value service
#   lib/pkgconfig/raft.pc, raftkv.pc
#   lib/cmake/raftkv/      find_package(raftkv): raftkv::raft,
#                          raftkv::raft_static, raftkv::raftkv,
#                          raftkv::raftkv_static
#   bin/                   raftkv-server, raftkv-cli, raftkv-bench,
#                          harness, lincheck
#
# The installed libraries are made of the modules' own objects (no second
# compilation): those modules are built position-independent, with
# -fno-semantic-interposition so that calls inside them still inline as in
# a non-PIC build. A shared library exports only the public prefixes
# (cmake/*.map); libraftkv contains libraft, so a program links one of the
# two. The fuzz build makes none of this (its sanitizer runtime is linked
# into the fuzz targets only).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(RAFTKV_SOVERSION 0)
set(RAFTKV_DIST_DIR ${CMAKE_BINARY_DIR}/dist)
set(raftkv_dist_modules common raft storage transport transport_grpc proto kv)
foreach(m IN LISTS raftkv_dist_modules)
    set_target_properties(${m} PROPERTIES POSITION_INDEPENDENT_CODE ON)
    target_compile_options(${m} PRIVATE -fno-semantic-interposition)
endforeach()

# raftkv_dist_library(NAME name MODULES m... MAP file [DEPS target...]):
# ${name}_shared (libNAME.so.VERSION with SONAME libNAME.so.0) and
# ${name}_static (libNAME.a) from the objects of MODULES.
function(raftkv_dist_library)
    cmake_parse_arguments(D "" "NAME;MAP" "MODULES;DEPS" ${ARGN})
    set(objects)
    foreach(m IN LISTS D_MODULES)
        list(APPEND objects $<TARGET_OBJECTS:${m}>)
    endforeach()
    add_library(${D_NAME}_shared SHARED ${objects})
    add_library(${D_NAME}_static STATIC ${objects})
    set_target_properties(${D_NAME}_shared PROPERTIES
        OUTPUT_NAME ${D_NAME} EXPORT_NAME ${D_NAME}
        VERSION ${PROJECT_VERSION} SOVERSION ${RAFTKV_SOVERSION}
        LIBRARY_OUTPUT_DIRECTORY ${RAFTKV_DIST_DIR}
        LINK_DEPENDS ${D_MAP})
    set_target_properties(${D_NAME}_static PROPERTIES
        OUTPUT_NAME ${D_NAME} EXPORT_NAME ${D_NAME}_static
        ARCHIVE_OUTPUT_DIRECTORY ${RAFTKV_DIST_DIR})
    target_link_options(${D_NAME}_shared PRIVATE
        -Wl,--version-script=${D_MAP} -Wl,--no-undefined)
    target_link_libraries(${D_NAME}_shared PRIVATE ${D_DEPS})
    target_link_libraries(${D_NAME}_static PRIVATE ${D_DEPS})
    foreach(t ${D_NAME}_shared ${D_NAME}_static)
        target_include_directories(${t} INTERFACE
            $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/raftkv>)
        add_dependencies(${t} ${D_MODULES})
    endforeach()
endfunction()

raftkv_dist_library(NAME raft MODULES common raft
    MAP ${CMAKE_SOURCE_DIR}/cmake/raft.map)
raftkv_dist_library(NAME raftkv MODULES ${raftkv_dist_modules}
    MAP ${CMAKE_SOURCE_DIR}/cmake/raftkv.map
    DEPS PkgConfig::PROTOBUF_C PkgConfig::XXHASH PkgConfig::GRPC
         PkgConfig::OPENSSL Threads::Threads)

foreach(m common raft storage transport kv)
    install(DIRECTORY ${CMAKE_SOURCE_DIR}/${m}/include/${m}
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/raftkv
        FILES_MATCHING PATTERN "*.h")
endforeach()
install(TARGETS raft_shared raft_static raftkv_shared raftkv_static
    EXPORT raftkvTargets
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})

# pkg-config files locate the prefix from their own place, so that an
# install under `cmake --install --prefix DIR` works as well as one under
# the configured prefix.
file(RELATIVE_PATH RAFTKV_PC_UP
    /p/${CMAKE_INSTALL_LIBDIR}/pkgconfig /p)
foreach(pc raft raftkv)
    configure_file(${CMAKE_SOURCE_DIR}/cmake/${pc}.pc.in
        ${RAFTKV_DIST_DIR}/${pc}.pc @ONLY)
    install(FILES ${RAFTKV_DIST_DIR}/${pc}.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endforeach()

set(RAFTKV_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/raftkv)
install(EXPORT raftkvTargets NAMESPACE raftkv::
    DESTINATION ${RAFTKV_CMAKE_DIR})
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/raftkvConfig.cmake.in
    ${RAFTKV_DIST_DIR}/raftkvConfig.cmake
    INSTALL_DESTINATION ${RAFTKV_CMAKE_DIR})
write_basic_package_version_file(${RAFTKV_DIST_DIR}/raftkvConfigVersion.cmake
    COMPATIBILITY SameMinorVersion)
install(FILES ${RAFTKV_DIST_DIR}/raftkvConfig.cmake
    ${RAFTKV_DIST_DIR}/raftkvConfigVersion.cmake
    DESTINATION ${RAFTKV_CMAKE_DIR})

foreach(program raftkv-server raftkv-cli raftkv-bench harness-bin lincheck)
    if(TARGET ${program})
        install(TARGETS ${program} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
    endif()
endforeach()
