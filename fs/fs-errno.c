#include "fs-errno.h"

#include <errno.h>

#include <gio/gio.h>

static const struct {
	GIOErrorEnum code;
	int errnum;
} io_errors[] = {
	{G_IO_ERROR_NOT_FOUND, ENOENT},
	{G_IO_ERROR_EXISTS, EEXIST},
	{G_IO_ERROR_IS_DIRECTORY, EISDIR},
	{G_IO_ERROR_NOT_DIRECTORY, ENOTDIR},
	{G_IO_ERROR_NOT_EMPTY, ENOTEMPTY},
	{G_IO_ERROR_PERMISSION_DENIED, EACCES},
	{G_IO_ERROR_READ_ONLY, EROFS},
	{G_IO_ERROR_NO_SPACE, ENOSPC},
	{G_IO_ERROR_INVALID_ARGUMENT, EINVAL},
	{G_IO_ERROR_INVALID_FILENAME, EINVAL},
	{G_IO_ERROR_FILENAME_TOO_LONG, ENAMETOOLONG},
	{G_IO_ERROR_NOT_SUPPORTED, EOPNOTSUPP},
	{G_IO_ERROR_BUSY, EBUSY},
	{G_IO_ERROR_WOULD_BLOCK, EAGAIN},
	{G_IO_ERROR_TOO_MANY_OPEN_FILES, EMFILE},
	/* An interrupted reader: the kernel hands EINTR to the program. */
	{G_IO_ERROR_CANCELLED, EINTR},
	/* No peer had the pieces before read_timeout: the data is
	 * unreadable right now, which programs know as EIO. */
	{G_IO_ERROR_TIMED_OUT, EIO},
	/* The tracker could not be reached for a change of the listing. */
	{G_IO_ERROR_HOST_UNREACHABLE, EHOSTUNREACH},
	{G_IO_ERROR_NETWORK_UNREACHABLE, ENETUNREACH},
	{G_IO_ERROR_CONNECTION_REFUSED, ECONNREFUSED},
};

int fs_errno_from_error(const GError *error)
{
	if (error == NULL)
		return EIO;
	if (error->domain != G_IO_ERROR)
		return EIO;
	for (gsize i = 0; i < G_N_ELEMENTS(io_errors); i++) {
		if (io_errors[i].code == (GIOErrorEnum)error->code)
			return io_errors[i].errnum;
	}
	return EIO;
}
