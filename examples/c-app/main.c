/* A small HTTP server in C on GNU libmicrohttpd: answers on PORT, stops on SIGTERM. */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum MHD_Result answer(void *cls, struct MHD_Connection *connection, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_data_size, void **req_cls) {
  (void)cls; (void)url; (void)version; (void)upload_data; (void)upload_data_size; (void)req_cls;
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) return MHD_NO;
  char body[256];
  const char *service = getenv("GAE_SERVICE");
  snprintf(body, sizeof body, "Hello from C on libmicrohttpd %s (%s)\n", MHD_get_version(), service ? service : "?");
  struct MHD_Response *response = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(response, "Content-Type", "text/plain");
  enum MHD_Result ret = MHD_queue_response(connection, MHD_HTTP_OK, response);
  MHD_destroy_response(response);
  return ret;
}

int main(void) {
  const char *port_env = getenv("PORT");
  unsigned short port = (unsigned short)(port_env ? atoi(port_env) : 8080);
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, NULL); /* the server's threads inherit the mask; main waits for the signal */
  struct MHD_Daemon *daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, port, NULL, NULL, &answer, NULL, MHD_OPTION_END);
  if (!daemon) {
    fprintf(stderr, "cannot listen on port %u\n", port);
    return 1;
  }
  printf("listening on :%u\n", port);
  fflush(stdout);
  int sig;
  sigwait(&stop, &sig);
  MHD_stop_daemon(daemon);
  return 0;
}
