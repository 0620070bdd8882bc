# A Rack app served by WEBrick, both from Debian's packages in the ruby:3.1 base image.
require "rack"
require "rack/handler/webrick"
require "json"

APP = lambda do |env|
  request = Rack::Request.new(env)
  case request.path_info
  when "/"
    [200, { "content-type" => "text/plain" }, ["Hello from Ruby #{RUBY_VERSION} and Rack #{Rack.release} on Strata\n"]]
  when "/healthz"
    [200, { "content-type" => "text/plain" }, ["ok\n"]]
  when "/env"
    body = { port: ENV["PORT"], user: Process.uid, cwd: Dir.pwd }
    [200, { "content-type" => "application/json" }, [JSON.generate(body)]]
  else
    [404, { "content-type" => "text/plain" }, ["not found\n"]]
  end
end

port = Integer(ENV.fetch("PORT", "8080"))
$stdout.sync = true
puts "listening on :#{port}"
Rack::Handler::WEBrick.run(
  APP,
  Host: "0.0.0.0",
  Port: port,
  AccessLog: [],
  Logger: WEBrick::Log.new($stderr, WEBrick::Log::WARN),
)
