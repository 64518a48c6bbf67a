//go:build tools

// The release's own tools, pinned: krew-release-bot renders .krew.yaml as the
// krew-index bot does for a GitHub release; actionlint checks the release
// workflow. Kept apart from components/krew: the bot needs krew v0.3.3's API.
package tools

import (
	_ "github.com/rajatjindal/krew-release-bot/cmd/action"
	_ "github.com/rhysd/actionlint/cmd/actionlint"
)
