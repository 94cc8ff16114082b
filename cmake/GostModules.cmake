# gost_add_module(NAME <name> NAMESPACE <ns> SOURCES ... [DEPS ...] [REQUIRES_FOUND var...])
#
# Each protocol module is its own static library gost_<name> (exported as gost::<name>) that
# provides `void gost::<ns>::register_module(gost::Registry&)`. The umbrella library gost::gost
# links every module and a generated register_builtin_modules() that calls each of them.
set_property(GLOBAL PROPERTY GOST_MODULES "")
set_property(GLOBAL PROPERTY GOST_MODULE_NAMESPACES "")

function(gost_add_module)
  cmake_parse_arguments(M "" "NAME;NAMESPACE" "SOURCES;DEPS" ${ARGN})
  set(target gost_${M_NAME})
  add_library(${target} STATIC ${M_SOURCES})
  add_library(gost::${M_NAME} ALIAS ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${M_NAME} POSITION_INDEPENDENT_CODE ON)
  target_include_directories(${target} PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
                                              $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
                                       PRIVATE ${PROJECT_SOURCE_DIR}/lib)
  target_link_libraries(${target} PUBLIC gost_core ${M_DEPS})
  gost_set_warnings(${target})
  set_property(GLOBAL APPEND PROPERTY GOST_MODULES ${M_NAME})
  set_property(GLOBAL APPEND PROPERTY GOST_MODULE_NAMESPACES ${M_NAMESPACE})
endfunction()

function(gost_feature_summary)
  get_property(mods GLOBAL PROPERTY GOST_MODULES)
  message(STATUS "gost modules: ${mods}")
  message(STATUS "gost sanitizers: ${GOST_SANITIZE}, werror: ${GOST_WERROR}")
endfunction()
