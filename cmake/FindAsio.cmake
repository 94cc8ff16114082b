# Finds standalone Asio (Debian: libasio-dev) and defines Asio::asio.
find_path(Asio_INCLUDE_DIR NAMES asio.hpp PATH_SUFFIXES include)
if(Asio_INCLUDE_DIR AND EXISTS "${Asio_INCLUDE_DIR}/asio/version.hpp")
  file(STRINGS "${Asio_INCLUDE_DIR}/asio/version.hpp" _asio_ver REGEX "#define ASIO_VERSION ")
  string(REGEX REPLACE ".*#define ASIO_VERSION ([0-9]+).*" "\\1" _asio_num "${_asio_ver}")
  math(EXPR _maj "${_asio_num} / 100000")
  math(EXPR _min "${_asio_num} / 100 % 1000")
  math(EXPR _pat "${_asio_num} % 100")
  set(Asio_VERSION "${_maj}.${_min}.${_pat}")
endif()
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Asio REQUIRED_VARS Asio_INCLUDE_DIR VERSION_VAR Asio_VERSION)
if(Asio_FOUND AND NOT TARGET Asio::asio)
  add_library(Asio::asio INTERFACE IMPORTED)
  set_target_properties(Asio::asio PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${Asio_INCLUDE_DIR}")
  # One compiled Asio (lib/core/asio_impl.cpp) instead of header-only instantiation everywhere.
  # Asio's config.hpp includes no standard header, so whether it sees
  # _GLIBCXX_HAVE_ALIGNED_ALLOC depends on include order: one translation unit would
  # allocate coroutine frames with aligned_alloc and another free them with operator
  # delete. Pin the choice for every translation unit.
  # Coroutine frames and handlers come from a per-thread recycling cache; Asio's default of 2
  # blocks per kind is less than one relayed read nests (relay -> TLS -> TCP -> readiness
  # wait), so every read would go to malloc. 16 keeps steady traffic allocation-free. This
  # sets the size of a per-thread struct, so every translation unit must agree: it is part
  # of the interface.
  target_compile_definitions(Asio::asio INTERFACE ASIO_SEPARATE_COMPILATION ASIO_NO_DEPRECATED
                                                  ASIO_NO_TS_EXECUTORS
                                                  ASIO_DISABLE_STD_ALIGNED_ALLOC
                                                  ASIO_RECYCLING_ALLOCATOR_CACHE_SIZE=16)
  find_package(Threads REQUIRED)
  target_link_libraries(Asio::asio INTERFACE Threads::Threads)
endif()
mark_as_advanced(Asio_INCLUDE_DIR)
