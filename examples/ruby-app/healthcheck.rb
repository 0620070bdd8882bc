# HEALTHCHECK probe: exit 0 when the app answers /healthz.
require "net/http"
response = Net::HTTP.get_response(URI("http://127.0.0.1:#{ENV.fetch("PORT", "8080")}/healthz"))
exit(response.is_a?(Net::HTTPSuccess) ? 0 : 1)
