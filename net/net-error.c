#include "net-error.h"

G_DEFINE_QUARK(groupfs - net - error - quark, net_error)
