// Command coredns is the test cluster's DNS: CoreDNS with only the plugins that
// answer cluster names from the Kubernetes API. The forward plugin is not built
// in, so no query can leave the node for an outside resolver.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

// The order in which the plugins see a query, as in CoreDNS's own plugin.cfg.
var directives = []string{"ready", "health", "errors", "log", "cache", "hosts", "kubernetes"}

func init() {
	dnsserver.Directives = directives
}

func main() {
	coremain.Run()
}
