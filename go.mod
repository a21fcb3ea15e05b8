module github.com/secretstore/secretstore

go 1.26.0

require (
	github.com/google/uuid v1.6.0
	github.com/stretchr/testify v1.12.1
	golang.org/x/crypto v0.58.0
)

require go.yaml.in/yaml/v3 v3.0.5 // indirect
