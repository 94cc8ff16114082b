# gost_set_warnings(target): the project's warning set; -Werror with GOST_WERROR.
function(gost_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                                           -Wnon-virtual-dtor -Wno-sign-conversion)
  if(GOST_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
