package dev.strata.example;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;

@SpringBootApplication
@RestController
public class Application {
  @GetMapping("/")
  public String hello() {
    return "Hello from Spring Boot on Java " + Runtime.version().feature() + " (" + System.getenv().getOrDefault("GAE_SERVICE", "?") + ")\n";
  }

  public static void main(String[] args) {
    SpringApplication.run(Application.class, args);
  }
}
