import { posix } from "node:path";

/** Where the buildpack's serving files live in the image. */
export const SERVING_DIR = "/strata";
export const START = `${SERVING_DIR}/start`;
/** The port nginx listens on: the port every buildpack image exposes. */
const PORT = 8080;
const FPM_SOCKET = "/tmp/php-fpm.sock";

/** How requests reach PHP: nginx's document root and the one script every dynamic request runs. */
export interface FrontController {
  /** Under /app: the front controller's folder (nginx serves static files from it). */
  readonly docroot: string;
  /** Absolute path of the front controller script. */
  readonly script: string;
}

/** From the front controller's path relative to the app root (public/index.php). */
export function frontController(relScript: string): FrontController {
  const script = posix.join("/app", relScript);
  return { docroot: posix.dirname(script), script };
}

/**
 * nginx in front of php-fpm, as App Engine's PHP runtime serves: a file that exists under the document
 * root is sent by nginx; any other request, and any .php path, runs the front controller. Everything
 * writable is under /tmp (the root is read-only under runc), logs go to stderr, the access log is the
 * router's. With the app root as the document root, the files that are not for the web (vendor/,
 * composer.*, dot files, app.yaml, php.ini) go to the front controller too rather than being sent.
 */
export function nginxConf(front: FrontController): string {
  const hidden = front.docroot === "/app" ? "    location ~ ^/(vendor/|composer\\.(json|lock)$|app\\.yaml$|php\\.ini$|\\.) { rewrite ^ /.strata-front last; }\n" : "";
  return `# Written by Strata's PHP buildpack.
worker_processes 1;
daemon off;
pid /tmp/nginx.pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log off;
  sendfile on;
  server_tokens off;
  client_max_body_size 32m;
  client_body_temp_path /tmp/nginx-body;
  proxy_temp_path /tmp/nginx-proxy;
  fastcgi_temp_path /tmp/nginx-fastcgi;
  uwsgi_temp_path /tmp/nginx-uwsgi;
  scgi_temp_path /tmp/nginx-scgi;
  server {
    listen ${PORT} default_server;
    root ${front.docroot};
${hidden}    location / { try_files $uri /.strata-front?$args; }
    location ~ \\.php$ { rewrite ^ /.strata-front last; }
    location = /.strata-front { internal; include /etc/nginx/fastcgi_params; fastcgi_param SCRIPT_FILENAME ${front.script}; fastcgi_param SCRIPT_NAME /${posix.basename(front.script)}; fastcgi_pass unix:${FPM_SOCKET}; }
  }
}
`;
}

/**
 * One php-fpm pool on a unix socket in /tmp. The app's environment reaches PHP (clear_env = no: App
 * Engine's env_variables and GAE_*), sessions are files under /tmp (writable under every driver), and
 * workers' output goes to php-fpm's stderr.
 */
export function fpmConf(): string {
  return `; Written by Strata's PHP buildpack.
[global]
daemonize = no
error_log = /proc/self/fd/2
log_limit = 8192

[app]
listen = ${FPM_SOCKET}
pm = dynamic
pm.max_children = 8
pm.start_servers = 1
pm.min_spare_servers = 1
pm.max_spare_servers = 2
clear_env = no
catch_workers_output = yes
decorate_workers_output = no
php_admin_value[session.save_path] = /tmp
php_admin_flag[log_errors] = on
`;
}

/**
 * The image's entrypoint (run by /bin/sh): php-fpm first, then nginx once php-fpm's socket exists, so
 * the first request the readiness check lets through finds PHP up. php-fpm's stderr goes through a pipe
 * (cat), which its error_log (/proc/self/fd/2) can reopen whoever owns the instance's log.
 */
export function startScript(fpmBinary: string): string {
  return `#!/bin/sh
# Written by Strata's PHP buildpack: php-fpm behind nginx.
rm -f ${FPM_SOCKET}
${fpmBinary} --nodaemonize --fpm-config ${SERVING_DIR}/php-fpm.conf 2>&1 | cat >&2 &
i=0
while [ ! -S ${FPM_SOCKET} ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done
exec nginx -c ${SERVING_DIR}/nginx.conf
`;
}
