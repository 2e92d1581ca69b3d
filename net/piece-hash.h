#pragma once
/* piece-hash: to be written. */
