<?php
declare(strict_types=1);

require __DIR__ . '/../src/Router.php';

session_start();
$_SESSION['visits'] = ($_SESSION['visits'] ?? 0) + 1;

$router = new Router();

$router->get('/', function (): void {
    $greeting = getenv('GREETING') ?: 'Hello';
    $service = getenv('GAE_SERVICE') ?: 'php-app';
    $version = getenv('GAE_VERSION') ?: '?';
    $name = $_SESSION['name'] ?? null;
    header('Content-Type: text/html; charset=utf-8');
    echo "<!doctype html><link rel=stylesheet href=/static/style.css>\n";
    echo "<h1>" . htmlspecialchars($greeting) . " (service $service, version $version, PHP " . PHP_VERSION . ")</h1>\n";
    echo "<p>visits in this session: {$_SESSION['visits']}</p>\n";
    echo $name === null ? "<p>who are you?</p>\n" : "<p>welcome back, " . htmlspecialchars($name) . "</p>\n";
    echo "<form method=post action=/name><input name=name><button>save</button></form>\n";
});

$router->post('/name', function (): void {
    $name = trim((string)($_POST['name'] ?? ''));
    if ($name === '') {
        http_response_code(422);
        echo "a name is needed\n";
        return;
    }
    $_SESSION['name'] = $name;
    error_log("saved name for session " . session_id());
    header('Location: /', true, 303);
});

$router->get('/whoami', function (): void {
    header('Content-Type: application/json');
    echo json_encode(['name' => $_SESSION['name'] ?? null, 'visits' => $_SESSION['visits'], 'session_name' => session_name()]) . "\n";
});

$router->dispatch($_SERVER['REQUEST_METHOD'], $_SERVER['REQUEST_URI']);
