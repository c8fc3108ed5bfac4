WITH s AS (
  SELECT n.oid, n.nspname FROM pg_namespace n WHERE n.nspname = current_schema()
), ext AS (
  SELECT d.objid, d.classid FROM pg_depend d WHERE d.deptype = 'e'
), rel AS (
  SELECT c.oid, c.relname, c.relkind, c.relpersistence
    FROM pg_class c, s
   WHERE c.relnamespace = s.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'i', 'I')
     AND NOT (c.relkind IN ('r', 'p') AND c.relname = 'schema_migrations')
     AND NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_class'::regclass AND ext.objid = c.oid)
), objs AS (
  SELECT 'table' AS k, r.relname::text AS n,
         CASE r.relkind WHEN 'p' THEN 'partitioned' ELSE 'table' END
           || CASE r.relpersistence WHEN 'u' THEN ' unlogged' ELSE '' END AS d, NULL::text AS b
    FROM rel r WHERE r.relkind IN ('r', 'p')
  UNION ALL
  SELECT 'column', r.relname || '.' || a.attname,
         format_type(a.atttypid, a.atttypmod)
           || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
           || CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text ELSE '' END
           || CASE WHEN a.attgenerated <> '' THEN ' generated ' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '')
                   WHEN ad.adbin IS NOT NULL THEN ' default ' || pg_get_expr(ad.adbin, ad.adrelid) ELSE '' END,
         NULL
    FROM rel r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
   WHERE r.relkind IN ('r', 'p')
  UNION ALL
  SELECT 'constraint', r.relname || '.' || co.conname, co.contype::text || ' ' || pg_get_constraintdef(co.oid), NULL
    FROM rel r JOIN pg_constraint co ON co.conrelid = r.oid AND co.contype <> 'n'
  UNION ALL
  SELECT 'index', i.relname, pg_get_indexdef(i.oid), NULL
    FROM rel i JOIN pg_index x ON x.indexrelid = i.oid
   WHERE x.indrelid IN (SELECT r.oid FROM rel r)
  UNION ALL
  SELECT CASE r.relkind WHEN 'v' THEN 'view' ELSE 'matview' END, r.relname,
         (SELECT string_agg(a.attname, ', ' ORDER BY a.attnum)
            FROM pg_attribute a WHERE a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped),
         pg_get_viewdef(r.oid)
    FROM rel r WHERE r.relkind IN ('v', 'm')
  UNION ALL
  SELECT 'sequence', r.relname, format_type(q.seqtypid, NULL) || ' increment ' || q.seqincrement, NULL
    FROM rel r JOIN pg_sequence q ON q.seqrelid = r.oid
  UNION ALL
  SELECT CASE t.typtype WHEN 'e' THEN 'enum' WHEN 'd' THEN 'domain' ELSE 'composite' END, t.typname,
         CASE t.typtype
           WHEN 'e' THEN (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
                            FROM pg_enum e WHERE e.enumtypid = t.oid)
           WHEN 'd' THEN format_type(t.typbasetype, t.typtypmod)
                          || CASE WHEN t.typnotnull THEN ' not null' ELSE '' END
                          || coalesce(' default ' || t.typdefault, '')
                          || coalesce((SELECT ' ' || string_agg(pg_get_constraintdef(co.oid), ' ' ORDER BY co.conname)
                                         FROM pg_constraint co WHERE co.contypid = t.oid), '')
           ELSE (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
                   FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped)
         END,
         NULL
    FROM pg_type t, s
   WHERE t.typnamespace = s.oid
     AND (t.typtype IN ('e', 'd')
          OR (t.typtype = 'c' AND (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c'))
     AND NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_type'::regclass AND ext.objid = t.oid)
  UNION ALL
  SELECT 'function', p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
         p.prokind::text || ' ' || coalesce(pg_get_function_result(p.oid), '') || ' ' || l.lanname || ' ' || p.provolatile::text
           || CASE WHEN p.prosecdef THEN ' security definer' ELSE '' END,
         p.prosrc
    FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang, s
   WHERE p.pronamespace = s.oid
     AND NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_proc'::regclass AND ext.objid = p.oid)
  UNION ALL
  SELECT 'trigger', r.relname || '.' || g.tgname, pg_get_triggerdef(g.oid), NULL
    FROM rel r JOIN pg_trigger g ON g.tgrelid = r.oid AND NOT g.tgisinternal
  UNION ALL
  SELECT 'extension', x.extname, '', NULL
    FROM pg_extension x, s WHERE x.extnamespace = s.oid
)
SELECT coalesce(json_agg(json_build_array(o.k, o.n, o.d, o.b)), '[]'::json)::text FROM objs o
