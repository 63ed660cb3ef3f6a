-- The API's length limits, kept by the database too, so a bug in one layer cannot store what the other
-- refuses. The API counts UTF-16 code units and char_length() counts characters (never more), so every
-- value the API accepts passes these checks.
ALTER TABLE users ADD CONSTRAINT users_email_length CHECK (char_length(email) BETWEEN 3 AND 254);

ALTER TABLE users ADD CONSTRAINT users_name_length CHECK (name IS NULL OR char_length(name) BETWEEN 1 AND 100);

ALTER TABLE content ADD CONSTRAINT content_title_length CHECK (char_length(title) BETWEEN 1 AND 200);

ALTER TABLE content ADD CONSTRAINT content_body_length CHECK (char_length(body) <= 100000);
