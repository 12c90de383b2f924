/* josev C client example: joins the station bus (MQTT 5, libmosquitto), follows one EVSE's status and presents
 * an RFID token to the coordinator as an MQTT 5 request/response command.
 *
 *   josev-c-client --host 127.0.0.1 --port 1884 --user cli --credentials /var/lib/josev/broker/credentials \
 *                  --evse 1 --token 04C0FFEE [--seconds 10] [--updates 1]
 *
 * Prints one line per EvseStatus received ("status evse=1 state=plugged ocpp=Occupied ...") and one for the
 * reply ("reply ok {...}" or "reply error {...}"). Exit 0 once the reply is ok and --updates statuses were
 * received, 1 on an error reply or timeout, 2 on bad arguments or no connection.
 *
 * The message types (struct EvseStatus, struct PresentToken, their cJSON parsers and printers) are generated
 * by quicktype from docs/api/schemas; the addresses and the schema version from docs/api/asyncapi.json. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "josev_api.h"
#include "josev_types.h"

struct client {
    const char *user;
    int evse;
    const char *token;
    char status_topic[256];
    char command_topic[256];
    char reply_topic[256];
    char correlation[96];
    int subscribed;
    int sent;
    int statuses;
    int reply; /* 0: none yet, 1: ok, -1: error */
};

/* "josev/v1/coordinator/{evse}/state/evse_status" with {evse} -> "evse1". */
static void expand(char *out, size_t n, const char *pattern, const char *name, const char *value) {
    const char *at = strstr(pattern, name);
    if (at == NULL) {
        snprintf(out, n, "%s", pattern);
        return;
    }
    snprintf(out, n, "%.*s%s%s", (int)(at - pattern), pattern, value, at + strlen(name));
}

static char *read_password(const char *path, const char *user) {
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "cannot read %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char line[512];
    size_t ulen = strlen(user);
    char *found = NULL;
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strncmp(line, user, ulen) == 0 && line[ulen] == ':') {
            found = strdup(line + ulen + 1);
            break;
        }
    }
    fclose(f);
    if (found == NULL) fprintf(stderr, "no credentials for %s in %s\n", user, path);
    return found;
}

static void send_token(struct mosquitto *mosq, struct client *c) {
    struct PresentToken cmd = {.id_token = (char *)c->token, .token_type = "ISO14443"};
    cJSON *obj = cJSON_CreatePresentToken(&cmd);
    char *payload = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    mosquitto_property *props = NULL;
    mosquitto_property_add_string(&props, MQTT_PROP_CONTENT_TYPE, JOSEV_CONTENT_TYPE);
    mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, "schema", JOSEV_SCHEMA_VERSION);
    mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, c->reply_topic);
    mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, c->correlation, (uint16_t)strlen(c->correlation));
    int rc = mosquitto_publish_v5(mosq, NULL, c->command_topic, (int)strlen(payload), payload, 1, false, props);
    mosquitto_property_free_all(&props);
    printf("sent %s %s\n", c->command_topic, payload);
    fflush(stdout);
    free(payload);
    if (rc != MOSQ_ERR_SUCCESS) fprintf(stderr, "publish failed: %s\n", mosquitto_strerror(rc));
    c->sent = 1;
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc, int flags, const mosquitto_property *props) {
    struct client *c = obj;
    if (rc != 0) {
        fprintf(stderr, "connect refused: %s\n", mosquitto_reason_string(rc));
        return;
    }
    char *subs[2] = {c->status_topic, c->reply_topic};
    mosquitto_subscribe_multiple(mosq, NULL, 2, subs, 1, 0, NULL);
}

static void on_subscribe(struct mosquitto *mosq, void *obj, int mid, int count, const int *granted,
                         const mosquitto_property *props) {
    struct client *c = obj;
    for (int i = 0; i < count; i++) {
        if (granted[i] >= 0x80) {
            fprintf(stderr, "subscription %d refused (reason 0x%x)\n", i, granted[i]);
            return;
        }
    }
    c->subscribed = 1;
    if (!c->sent) send_token(mosq, c); /* the reply topic is subscribed: the answer cannot be missed */
}

static const char *user_property(const mosquitto_property *props, const char *key) {
    static char value_buf[64];
    char *name = NULL, *value = NULL;
    const mosquitto_property *p = mosquitto_property_read_string_pair(props, MQTT_PROP_USER_PROPERTY, &name, &value, false);
    while (p != NULL) {
        int match = name != NULL && strcmp(name, key) == 0;
        if (match) snprintf(value_buf, sizeof value_buf, "%s", value ? value : "");
        free(name);
        free(value);
        if (match) return value_buf;
        name = value = NULL;
        p = mosquitto_property_read_string_pair(p, MQTT_PROP_USER_PROPERTY, &name, &value, true);
    }
    return NULL;
}

static void on_status(struct client *c, const char *json) {
    struct EvseStatus *st = cJSON_ParseEvseStatus(json);
    if (st == NULL) {
        fprintf(stderr, "invalid EvseStatus: %s\n", json);
        return;
    }
    cJSON *state = cJSON_CreateState(st->state);
    cJSON *ocpp = cJSON_CreateOcppStatus(st->ocpp_status);
    int faults = 0;
    for (char *f = list_get_head(st->faults); f != NULL; f = list_get_next(st->faults)) faults++;
    printf("status evse=%d state=%s ocpp=%s contactor=%s limit_a=%.1f session=%s faults=%d\n", c->evse,
           cJSON_GetStringValue(state), cJSON_GetStringValue(ocpp), st->contactor_closed ? "closed" : "open",
           st->limit_a ? *st->limit_a : -1.0, st->session_id ? st->session_id : "-", faults);
    fflush(stdout);
    cJSON_Delete(state);
    cJSON_Delete(ocpp);
    cJSON_DeleteEvseStatus(st);
    c->statuses++;
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg,
                       const mosquitto_property *props) {
    struct client *c = obj;
    char *json = strndup(msg->payload ? msg->payload : "", (size_t)msg->payloadlen);
    if (strcmp(msg->topic, c->status_topic) == 0 && msg->payloadlen > 0) {
        on_status(c, json);
    } else if (strcmp(msg->topic, c->reply_topic) == 0) {
        void *corr = NULL;
        uint16_t len = 0;
        mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &corr, &len, false);
        int ours = corr != NULL && len == strlen(c->correlation) && memcmp(corr, c->correlation, len) == 0;
        free(corr);
        if (ours) {
            const char *status = user_property(props, "status");
            c->reply = status != NULL && strcmp(status, "ok") == 0 ? 1 : -1;
            printf("reply %s %s\n", c->reply == 1 ? "ok" : "error", json);
            fflush(stdout);
        }
    }
    free(json);
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1", *creds = "/var/lib/josev/broker/credentials", *user = "cli";
    const char *token = NULL;
    int port = 1883, evse = 1, updates = 1;
    double seconds = 10.0;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--host")) host = v;
        else if (!strcmp(k, "--port")) port = atoi(v);
        else if (!strcmp(k, "--user")) user = v;
        else if (!strcmp(k, "--credentials")) creds = v;
        else if (!strcmp(k, "--evse")) evse = atoi(v);
        else if (!strcmp(k, "--token")) token = v;
        else if (!strcmp(k, "--seconds")) seconds = atof(v);
        else if (!strcmp(k, "--updates")) updates = atoi(v);
        else {
            fprintf(stderr, "unknown option %s\n", k);
            return 2;
        }
    }
    if (token == NULL || evse < 1) {
        fprintf(stderr, "usage: %s --token ID [--evse N] [--host H] [--port P] [--user U] [--credentials FILE]\n", argv[0]);
        return 2;
    }
    char *password = read_password(creds, user);
    if (password == NULL) return 2;

    struct client c = {.user = user, .evse = evse, .token = token};
    char scope[16], client_id[64];
    snprintf(scope, sizeof scope, "evse%d", evse);
    snprintf(client_id, sizeof client_id, JOSEV_CLIENT_ID_PREFIX "c-client-%ld", (long)getpid());
    snprintf(c.correlation, sizeof c.correlation, "%s-%ld", client_id, (long)time(NULL));
    expand(c.status_topic, sizeof c.status_topic, JOSEV_EVSE_STATUS_ADDRESS, "{evse}", scope);
    expand(c.command_topic, sizeof c.command_topic, JOSEV_PRESENT_TOKEN_ADDRESS, "{evse}", scope);
    char tmp[256], tmp2[256];
    expand(tmp, sizeof tmp, JOSEV_REPLY_ADDRESS, "{user}", user);
    expand(tmp2, sizeof tmp2, tmp, "{client}", client_id);
    expand(c.reply_topic, sizeof c.reply_topic, tmp2, "{service}", "coordinator");

    mosquitto_lib_init();
    struct mosquitto *mosq = mosquitto_new(client_id, true, &c);
    mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_username_pw_set(mosq, user, password);
    mosquitto_connect_v5_callback_set(mosq, on_connect);
    mosquitto_subscribe_v5_callback_set(mosq, on_subscribe);
    mosquitto_message_v5_callback_set(mosq, on_message);
    int rc = mosquitto_connect_bind_v5(mosq, host, port, 30, NULL, NULL);
    if (rc != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "cannot connect to %s:%d: %s\n", host, port, mosquitto_strerror(rc));
        return 2;
    }
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int code = 1;
    for (;;) {
        rc = mosquitto_loop(mosq, 100, 1);
        if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN) {
            fprintf(stderr, "connection lost: %s\n", mosquitto_strerror(rc));
            break;
        }
        if (c.reply == -1) break;
        if (c.reply == 1 && c.statuses >= updates) {
            code = 0;
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9 > seconds) {
            fprintf(stderr, "timeout: reply=%d statuses=%d\n", c.reply, c.statuses);
            break;
        }
    }
    mosquitto_disconnect_v5(mosq, 0, NULL);
    mosquitto_destroy(mosq);
    mosquitto_lib_cleanup();
    free(password);
    return code;
}
