package httpapi

import "flag"

var rewriteFlag = flag.Bool("rewrite", false, "rewrite docs/openapi.json")
