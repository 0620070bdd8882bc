/**
 * Strata's Ruby runtime client, written into each ruby function image as /opt/strata/bootstrap.rb. It
 * speaks only Lambda's Runtime API, as AWS's ruby runtime interface client does: `_HANDLER` is
 * `file.method` (a top-level `def handler(event:, context:)` in file.rb under LAMBDA_TASK_ROOT) or
 * `file.Module::Class.method`; the result is posted as JSON, an exception as Lambda's error shape. It uses
 * only Ruby's standard library (net/http, json). Kept as text here because the image gets it as a file.
 */
export const RUBY_BOOTSTRAP = String.raw`# Strata's Ruby runtime client: Lambda's Runtime API 2018-06-01 only.
require "json"
require "net/http"
require "time"

$stdout.sync = true
$stderr.sync = true

class LambdaContext
  attr_reader :aws_request_id, :invoked_function_arn, :function_name, :function_version,
              :memory_limit_in_mb, :log_group_name, :log_stream_name, :deadline_ms, :client_context, :identity

  def initialize(headers)
    @aws_request_id = headers["lambda-runtime-aws-request-id"]
    @invoked_function_arn = headers["lambda-runtime-invoked-function-arn"]
    @deadline_ms = headers["lambda-runtime-deadline-ms"].to_i
    @client_context = headers["lambda-runtime-client-context"]
    @identity = headers["lambda-runtime-cognito-identity"]
    @function_name = ENV["AWS_LAMBDA_FUNCTION_NAME"]
    @function_version = ENV["AWS_LAMBDA_FUNCTION_VERSION"]
    @memory_limit_in_mb = ENV["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
    @log_group_name = ENV["AWS_LAMBDA_LOG_GROUP_NAME"]
    @log_stream_name = ENV["AWS_LAMBDA_LOG_STREAM_NAME"]
  end

  def get_remaining_time_in_millis
    [@deadline_ms - (Time.now.to_f * 1000).to_i, 0].max
  end
end

host, port = ENV.fetch("AWS_LAMBDA_RUNTIME_API").split(":")
HTTP = Net::HTTP.new(host, port.to_i)
HTTP.read_timeout = nil
HTTP.keep_alive_timeout = 3600
HTTP.start
BASE = "/2018-06-01/runtime"

def error_shape(err, type = nil)
  { "errorMessage" => err.message, "errorType" => type || err.class.name, "stackTrace" => err.backtrace || [] }
end

def post_error(path, err, type = nil)
  body = error_shape(err, type)
  HTTP.post(BASE + path, JSON.generate(body), "Content-Type" => "application/json", "Lambda-Runtime-Function-Error-Type" => body["errorType"])
end

def load_handler
  spec = ENV.fetch("_HANDLER", "")
  file, target = spec.split(".", 2)
  raise NameError, "Bad handler #{spec}: it must be file.method, like function.handler" if file.to_s.empty? || target.to_s.empty?
  root = ENV.fetch("LAMBDA_TASK_ROOT", "/var/task")
  $LOAD_PATH.unshift(root)
  path = File.join(root, file + ".rb")
  raise LoadError, "cannot load such file -- #{path}" unless File.exist?(path)
  require path
  if target.include?("::") || target.include?(".")
    owner_name, _, method_name = target.rpartition(".")
    owner = Object.const_get(owner_name)
    owner.method(method_name.to_sym)
  else
    Object.new.method(target.to_sym)
  end
end

begin
  handler = load_handler
rescue Exception => e
  $stderr.puts("#{e.class}: #{e.message}")
  type = e.is_a?(SyntaxError) ? "Runtime.UserCodeSyntaxError" : e.is_a?(NameError) ? "Runtime.HandlerNotFound" : nil
  post_error("/init/error", e, type)
  exit 1
end

# GET invocation/next. A connection the Runtime API closed or refuses (the daemon restarting) is asked
# again, backing off to 1 s for up to 5 minutes, so the instance outlives a daemon restart.
def next_invocation
  delay = 0.05
  deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 300
  begin
    HTTP.get(BASE + "/invocation/next")
  rescue SystemCallError, IOError => e
    raise e if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
    sleep(delay)
    delay = [delay * 2, 1.0].min
    retry
  end
end

loop do
  res = next_invocation
  raise "invocation/next answered #{res.code}: #{res.body}" unless res.code == "200"
  headers = res.each_header.to_h
  context = LambdaContext.new(headers)
  id = context.aws_request_id
  ENV["_X_AMZN_TRACE_ID"] = headers["lambda-runtime-trace-id"]
  begin
    event = JSON.parse(res.body.to_s.empty? ? "null" : res.body)
    result = handler.call(event: event, context: context)
    HTTP.post(BASE + "/invocation/#{id}/response", JSON.generate(result), "Content-Type" => "application/json")
  rescue StandardError, ScriptError => e
    $stderr.puts("#{e.class}: #{e.message}")
    post_error("/invocation/#{id}/error", e)
  end
end
`;
