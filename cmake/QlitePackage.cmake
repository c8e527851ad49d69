# The installable library: libqlite.a (every internal library in one archive) and
# libqlite.so (exports only qlite_*, SONAME libqlite.so.MAJOR.MINOR), the C header, a CMake
# package (find_package(qlite): qlite::qlite, qlite::qlite_static) and pkg-config files
# (qlite.pc for the shared library, qlite-static.pc for the archive).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)
find_package(Threads REQUIRED)

set(_qlite_parts qlite_runtime qlite_format qlite_arch qlite_base)
if(QLITE_CUDA)
  list(APPEND _qlite_parts qlite_cuda)
endif()
set(_qlite_objects)
foreach(part ${_qlite_parts})
  list(APPEND _qlite_objects $<TARGET_OBJECTS:${part}>)
endforeach()
set(_qlite_public_include
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/runtime/include>
  $<BUILD_INTERFACE:${QLITE_GENERATED_INCLUDE}>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)

add_library(qlite_static STATIC ${_qlite_objects})
set_target_properties(qlite_static PROPERTIES OUTPUT_NAME qlite EXPORT_NAME qlite_static)
target_include_directories(qlite_static INTERFACE ${_qlite_public_include})
# A C program links the archive with the C++ runtime and Highway, which the objects need.
target_link_libraries(qlite_static INTERFACE hwy::hwy Threads::Threads ${CMAKE_CXX_IMPLICIT_LINK_LIBRARIES})

add_library(qlite_shared SHARED ${_qlite_objects})
set_target_properties(qlite_shared PROPERTIES
  OUTPUT_NAME qlite EXPORT_NAME qlite
  VERSION ${PROJECT_VERSION}
  SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR}  # 0.x: a minor release may break the API
  LINK_DEPENDS ${PROJECT_SOURCE_DIR}/runtime/qlite.map)
target_include_directories(qlite_shared INTERFACE ${_qlite_public_include})
target_link_libraries(qlite_shared PRIVATE hwy::hwy Threads::Threads)
if(QLITE_CUDA)
  target_link_libraries(qlite_shared PRIVATE CUDA::cudart_static)
  target_link_libraries(qlite_static INTERFACE CUDA::cudart_static)
endif()
if(NOT APPLE AND NOT WIN32)
  target_link_options(qlite_shared PRIVATE "LINKER:--version-script=${PROJECT_SOURCE_DIR}/runtime/qlite.map"
                      "LINKER:--no-undefined")
endif()

install(TARGETS qlite_shared qlite_static EXPORT qliteTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/runtime/include/qlite/qlite.h ${QLITE_GENERATED_INCLUDE}/qlite/qlite_version.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/qlite)
install(EXPORT qliteTargets NAMESPACE qlite:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/qlite)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/qliteConfig.cmake.in
  ${PROJECT_BINARY_DIR}/qliteConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/qlite)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/qliteConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/qliteConfig.cmake ${PROJECT_BINARY_DIR}/qliteConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/qlite)

# pkg-config: the C++ runtime and threads as the archive's private needs.
set(QLITE_PC_PRIVATE_LIBS)
foreach(lib ${CMAKE_CXX_IMPLICIT_LINK_LIBRARIES})
  if(NOT lib STREQUAL "c")
    string(APPEND QLITE_PC_PRIVATE_LIBS " -l${lib}")
  endif()
endforeach()
# Relocatable: the prefix is found from the .pc file's own place (cmake --install --prefix).
file(RELATIVE_PATH QLITE_PC_TO_PREFIX ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
foreach(pc qlite qlite-static)
  configure_file(${PROJECT_SOURCE_DIR}/cmake/${pc}.pc.in ${PROJECT_BINARY_DIR}/${pc}.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/${pc}.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endforeach()
