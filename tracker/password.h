#pragma once
/* password: to be written. */
