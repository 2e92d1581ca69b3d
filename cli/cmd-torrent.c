/* cmd-torrent: to be written. */
#include "cli.h"

int cli_cmd_torrent(int argc, char **argv)
{
	return cli_fail("torrent: not yet implemented");
}
