//go:build tools

// Package tools pins the modules the project will use, so parallel work on
// different packages does not race to edit go.mod.
package tools

import (
	_ "github.com/eclipse/paho.golang/paho"
	_ "github.com/fsnotify/fsnotify"
	_ "github.com/go-chi/chi/v5"
	_ "github.com/golang-jwt/jwt/v5"
	_ "github.com/gorilla/websocket"
	_ "github.com/jackc/pgx/v5"
	_ "github.com/mochi-mqtt/server/v2"
	_ "github.com/oklog/ulid/v2"
	_ "modernc.org/sqlite"
)
