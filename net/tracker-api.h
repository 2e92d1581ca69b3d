#pragma once
/* tracker-api: to be written. */
