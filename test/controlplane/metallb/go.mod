module relay-operator.test/metallb

go 1.26.0

require go.universe.tf/metallb v0.15.2 // indirect
