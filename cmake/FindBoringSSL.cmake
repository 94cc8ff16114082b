# FindBoringSSL: BoringSSL as Debian ships it for Android tools (android-libboringssl-dev):
# headers in /usr/include/android/openssl, libraries in /usr/lib/<triplet>/android/.
# Provides BoringSSL::SSL and BoringSSL::Crypto. BoringSSL_ROOT_DIR / BoringSSL_INCLUDE_DIR /
# BoringSSL_LIBRARY_DIR override the locations.
find_path(BoringSSL_INCLUDE_DIR openssl/base.h
          HINTS ${BoringSSL_ROOT_DIR}/include /usr/include/android
          NO_DEFAULT_PATH)
set(_bssl_hints ${BoringSSL_LIBRARY_DIR} ${BoringSSL_ROOT_DIR}/lib)
if(CMAKE_LIBRARY_ARCHITECTURE)
  list(APPEND _bssl_hints /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/android)
endif()
find_library(BoringSSL_SSL_LIBRARY NAMES ssl HINTS ${_bssl_hints} NO_DEFAULT_PATH)
find_library(BoringSSL_CRYPTO_LIBRARY NAMES crypto HINTS ${_bssl_hints} NO_DEFAULT_PATH)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(BoringSSL REQUIRED_VARS BoringSSL_INCLUDE_DIR BoringSSL_SSL_LIBRARY
                                                          BoringSSL_CRYPTO_LIBRARY)
if(BoringSSL_FOUND)
  if(NOT TARGET BoringSSL::Crypto)
    add_library(BoringSSL::Crypto UNKNOWN IMPORTED)
    set_target_properties(BoringSSL::Crypto PROPERTIES IMPORTED_LOCATION ${BoringSSL_CRYPTO_LIBRARY}
                          INTERFACE_INCLUDE_DIRECTORIES ${BoringSSL_INCLUDE_DIR})
    # The Android libraries carry no SONAME-based runpath for their own directory.
    get_filename_component(_bssl_dir ${BoringSSL_CRYPTO_LIBRARY} DIRECTORY)
    set_property(TARGET BoringSSL::Crypto APPEND PROPERTY INTERFACE_LINK_OPTIONS
                 "LINKER:-rpath,${_bssl_dir}")
  endif()
  if(NOT TARGET BoringSSL::SSL)
    add_library(BoringSSL::SSL UNKNOWN IMPORTED)
    set_target_properties(BoringSSL::SSL PROPERTIES IMPORTED_LOCATION ${BoringSSL_SSL_LIBRARY}
                          INTERFACE_INCLUDE_DIRECTORIES ${BoringSSL_INCLUDE_DIR}
                          INTERFACE_LINK_LIBRARIES BoringSSL::Crypto)
  endif()
endif()
mark_as_advanced(BoringSSL_INCLUDE_DIR BoringSSL_SSL_LIBRARY BoringSSL_CRYPTO_LIBRARY)
