/*
 * TLS termination on listeners (being written).
 */
#ifndef AGORA_TLS_H
#define AGORA_TLS_H
#endif
