#pragma once
/* identity: to be written. */
