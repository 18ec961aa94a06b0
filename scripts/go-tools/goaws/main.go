// goaws-loopback runs goaws v0.5.4 (the pinned SQS stand-in) with its own
// router and periodic tasks, but listens on one host:port given on the command
// line instead of goaws's hard-coded 0.0.0.0. Every server of this project's
// local stack binds loopback only; upstream goaws offers no flag for that.
package main

import (
	"flag"
	"net/http"
	"os"
	"time"

	"github.com/Admiral-Piett/goaws/app/conf"
	"github.com/Admiral-Piett/goaws/app/gosqs"
	"github.com/Admiral-Piett/goaws/app/router"
	log "github.com/sirupsen/logrus"
)

func main() {
	var configFile, listen, env string
	flag.StringVar(&configFile, "config", "", "goaws YAML config file")
	flag.StringVar(&listen, "listen", "127.0.0.1:9324", "host:port to listen on")
	flag.StringVar(&env, "env", "Local", "environment section of the config")
	flag.Parse()

	log.SetFormatter(&log.JSONFormatter{})
	log.SetOutput(os.Stdout)
	log.SetLevel(log.WarnLevel)

	if configFile == "" {
		log.Fatal("-config is required")
	}
	if _, err := os.Stat(configFile); err != nil {
		log.Fatalf("config file: %v", err)
	}
	conf.LoadYamlConfig(configFile, env)

	quit := make(chan bool)
	go gosqs.PeriodicTasks(1*time.Second, quit)

	log.Warnf("goaws v0.5.4 listening on %s", listen)
	log.Fatal(http.ListenAndServe(listen, router.New()))
}
