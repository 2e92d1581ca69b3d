#pragma once
/* ca: to be written. */
