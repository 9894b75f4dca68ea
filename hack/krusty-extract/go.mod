module ferry/hack/krusty-extract

go 1.26.0
