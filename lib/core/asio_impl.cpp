// Asio's compiled part (ASIO_SEPARATE_COMPILATION): built once here instead of in every unit.
#include <asio/impl/src.hpp>
