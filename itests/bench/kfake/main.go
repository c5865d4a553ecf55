// Command kfake runs franz-go's kfake, an in-memory fake of a Kafka cluster written for
// client tests, as one broker on a given port: the benchmark's third column. It is not a
// broker a user would run: it keeps everything in memory and never writes a byte to disk.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

// settings collects repeated -c key=value flags.
type settings map[string]string

func (s settings) String() string { return "" }

func (s settings) Set(kv string) error {
	k, v, ok := strings.Cut(kv, "=")
	if !ok {
		return fmt.Errorf("want key=value, got %q", kv)
	}
	s[k] = v
	return nil
}

func main() {
	port := flag.Int("port", 9092, "port to listen on (127.0.0.1)")
	configs := settings{}
	flag.Var(configs, "c", "broker config key=value (repeatable)")
	flag.Parse()

	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(*port),
		kfake.AllowAutoTopicCreation(),
	}
	if len(configs) > 0 {
		opts = append(opts, kfake.BrokerConfigs(configs))
	}
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kfake: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(strings.Join(cluster.ListenAddrs(), ","))

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
	cluster.Close()
}
