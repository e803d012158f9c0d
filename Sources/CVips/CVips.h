// libvips and GLib, as the system provides them (pkg-config "vips", Debian's libvips-dev).
#include <vips/vips.h>
