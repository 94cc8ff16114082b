include(CMakePackageConfigHelpers)
get_property(_mods GLOBAL PROPERTY GOST_MODULES)
set(_targets gost_core gost_config gost_gost)
foreach(m IN LISTS _mods)
  list(APPEND _targets gost_${m})
endforeach()
install(TARGETS ${_targets} EXPORT gostTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/gost DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${PROJECT_SOURCE_DIR}/cmake/FindAsio.cmake DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/gost)
install(EXPORT gostTargets NAMESPACE gost:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/gost)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/gost-config.cmake.in
                              ${PROJECT_BINARY_DIR}/gost-config.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/gost)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/gost-config-version.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/gost-config.cmake ${PROJECT_BINARY_DIR}/gost-config-version.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/gost)
