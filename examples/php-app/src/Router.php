<?php
declare(strict_types=1);

/** A tiny router: method + exact path to a handler, 404 and 405 otherwise. */
final class Router
{
    /** @var array<string, array<string, callable>> */
    private array $routes = [];

    public function get(string $path, callable $handler): void { $this->routes[$path]['GET'] = $handler; }
    public function post(string $path, callable $handler): void { $this->routes[$path]['POST'] = $handler; }

    public function dispatch(string $method, string $uri): void
    {
        $path = parse_url($uri, PHP_URL_PATH) ?: '/';
        $byMethod = $this->routes[$path] ?? null;
        if ($byMethod === null) {
            http_response_code(404);
            echo "not found: " . htmlspecialchars($path) . "\n";
            return;
        }
        $handler = $byMethod[$method] ?? null;
        if ($handler === null) {
            http_response_code(405);
            header('Allow: ' . implode(', ', array_keys($byMethod)));
            return;
        }
        $handler();
    }
}
