/* gridmr/gridmr.h: everything public in one include. */
#ifndef GRIDMR_GRIDMR_H
#define GRIDMR_GRIDMR_H

#include "gridmr/apps.h"
#include "gridmr/err.h"
#include "gridmr/json.h"
#include "gridmr/lasso.h"
#include "gridmr/log.h"
#include "gridmr/mr.h"

#endif
