/* quicktype's C (cJSON) output includes <hashtable.h> for JSON objects used as maps; the josev messages this
 * client uses have none, so only the type is declared. */
#ifndef JOSEV_COMPAT_HASHTABLE_H
#define JOSEV_COMPAT_HASHTABLE_H
typedef struct hashtable hashtable_t;
#endif
