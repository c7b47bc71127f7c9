"""The public site: URL and path layout, feeds, pages, archives, the atomic publisher, WebSub."""
