-- Which media store holds a briefing's files (local folder or Blob Storage). The record keeps
-- media names, not links: links (SAS or signed routes) are minted when a page is opened.
ALTER TABLE briefings ADD COLUMN IF NOT EXISTS media_store text
    CHECK (media_store IS NULL OR media_store IN ('local', 'blob'));
