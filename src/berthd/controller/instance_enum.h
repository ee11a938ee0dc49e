/* instance_enum: whether a name is one of SageMaker's instance types (the
 * ProductionVariantInstanceType enum of the service model). */
#ifndef BERTHD_INSTANCE_ENUM_H
#define BERTHD_INSTANCE_ENUM_H

int instance_enum_has(const char *name);

#endif
