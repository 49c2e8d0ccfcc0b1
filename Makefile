.PHONY: test build

# Installs what the tests need, then gofmt check, go vet, go test -race, and
# each benchmark once.
test:
	./scripts/test.sh

build:
	go build -trimpath -ldflags "-s -w" -o bin/suanli ./cmd/suanli
