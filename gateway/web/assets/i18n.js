// Shared by every page: the zh/en dictionary, the language switch, the
// JSON API call and number formats. Money arrives as integer fen and points
// as integers; they are formatted with integer arithmetic only.
'use strict';

const LM = (() => {
  const dict = {
    zh: {
      'skip': '跳到正文',
      'nav.label': '页面',
      'nav.transparency': '透明度',
      'nav.member': '会员',
      'nav.operator': '运营后台',
      'nav.merchant': '商户后台',
      'lang.switch': 'English',
      'loading': '加载中…',
      'error': '出错了：',
      'none': '暂无',
      'more': '加载更多',
      'yes': '是',
      'no': '否',
      // transparency
      't.title': '联盟透明度 · 联盟积分',
      't.h1': '联盟透明度',
      't.lead': '每一个积分都有真金白银备付，每一条规则都公开，每一笔账都可以自己核验。',
      't.cov.h': '备付金覆盖率',
      't.cov.reserve': '备付金',
      't.cov.outstanding': '流通中的积分',
      't.cov.face': '每积分面值',
      't.cov.asof': '统计时间',
      't.cov.ok': '全部流通积分都有足额备付金。',
      't.cov.short': '备付金不足以覆盖全部流通积分！',
      't.cov.meter': '覆盖率',
      't.cov.history': '下图来自每日快照：每天结束后由账本算出，当天不会再改。',
      't.h.h': '每日历史',
      't.h.cov': '备付金覆盖率（每日结束时）',
      't.h.pts': '每日积分发放、抵扣与过期',
      't.h.table': '数据表',
      't.h.caption': '最近 {n} 天的每日数据',
      't.h.day': '日期',
      't.h.coverage': '覆盖率',
      't.h.outstanding': '流通积分',
      't.h.issued': '发放',
      't.h.redeemed': '抵扣',
      't.h.expired': '过期',
      't.h.empty': '暂无每日数据：第一天结束后生成。',
      't.h.covalt': '覆盖率折线图，{n} 天，最近一天 {last}；数据见下表。',
      't.h.ptsalt': '每日积分柱状图，{n} 天，合计发放 {i}、抵扣 {r}、过期 {e}；数据见下表。',
      't.m.h': '商户与积分规则',
      't.m.caption': '各商户当前的积分规则',
      't.m.name': '商户',
      't.m.industry': '行业',
      't.m.status': '状态',
      't.m.terms': '怎么得积分',
      't.m.active': '营业中',
      't.m.suspended': '已暂停',
      't.m.flat': '消费 ¥100 得 {pts} 积分（价值 {val}，即返 {pct}）',
      't.m.zero': '目前不发放积分',
      't.m.cap': '，每笔最多 {max} 积分',
      't.m.plugin': '由行业规则插件“{name}”计算',
      't.m.empty': '还没有商户。',
      't.m.next': '即将生效的变更',
      't.m.nochange': '无',
      't.m.when': '第 {v} 版将于 {date} 生效（还有 {left}）：',
      't.m.days': '{d} 天 {h} 小时',
      't.m.worse': '（对会员不利）',
      'term.rate_bp': '返还比例',
      'term.max_points': '每笔上限（积分，0 为不设限）',
      'term.release_delay_seconds': '释放等待',
      'term.validity_seconds': '有效期',
      'term.excluded_categories': '不积分的品类',
      'term.expression': '计算公式',
      'term.rule_plugin': '规则插件',
      'term.summary': '说明',
      'term.points': '示例消费所得积分',
      't.cp.h': '最新签名检查点',
      't.cp.lead': '每一笔账和每一次管理操作都进入 SM3 哈希链和 Merkle 树，检查点由联盟用 SM2 签名。',
      't.cp.origin': '日志标识',
      't.cp.size': '条目数',
      't.cp.root': 'Merkle 根',
      't.cp.chain': '链头',
      't.cp.time': '时间',
      't.cp.key': '公钥编号',
      't.cp.witnesses': '见证人联署',
      't.w.none': '未配置见证人：此检查点只有联盟自己的签名。',
      't.w.ok': '{n} 个见证人已联署（要求 {q} 个）：{names}',
      't.w.short': '警告：只有 {n} 个见证人联署，少于要求的 {q} 个。在见证人确认之前，不要把此检查点当作不可回退的证据。',
      't.cp.signed': '签名文本',
      't.cp.pub': 'SM2 公钥',
      't.cp.pending': '尚未写出第一个检查点。',
      't.cp.unavailable': '本网关未开启证据日志。',
      't.v.h': '自己核验',
      't.v.browser': '本页已在您的浏览器中验证签名（脚本 verify.js 来自本网关）：',
      't.v.sigok': '✓ 签名有效（SM2/SM3，公钥编号 {id}）',
      't.v.sigbad': '✗ 签名无效：{reason}',
      't.v.since': '与您上次在本浏览器看到的检查点相比：',
      't.v.first': '第一次访问：已记住大小为 {size} 的检查点，下次将检查日志只增不改。',
      't.v.same': '✓ 与上次相同（大小 {size}）。',
      't.v.grew': '✓ 日志从 {from} 条增长到 {to} 条，一致性证明成立：之前的条目一条未改。',
      't.v.back': '✗ 日志倒退了：上次 {from} 条，现在 {to} 条！',
      't.v.fork': '✗ 与上次看到的检查点不一致（分叉或改写）！',
      't.v.unchecked': '无法检查：{reason}',
      't.v.lead': '也不必相信本页面和它的脚本：下载这三个文件，用 OpenSSL 3（支持国密 SM2/SM3）自己验证签名。',
      't.v.dl': '下载',
      't.v.body': '检查点正文 checkpoint.txt',
      't.v.sig': '签名 checkpoint.sig（DER）',
      't.v.pem': '公钥 lianmeng-evidence.pem',
      't.v.cmd': '然后运行（应输出 Signature Verified Successfully）：',
      't.v.curl': '或者只用命令行获取这三个文件：',
      't.v.keyid': '请确认公钥编号与联盟在别处公布的一致；检查点正文最后一行写着同一个编号。',
      't.v.go': 'Go 程序可以用 sdk/evidence 的 ParseSignedCheckpoint 和 VerifyCheckpoint；一致性证明见 /v1/evidence/consistency，规范见 docs/evidence.md。',
      // member
      'm.title': '我的积分 · 联盟积分',
      'm.h1': '我的积分',
      'm.signin.h': '登录',
      'm.phone': '手机号',
      'm.send': '发送验证码',
      'm.code': '验证码',
      'm.verify': '登录',
      'm.sent': '验证码已发送，请查收短信。',
      'm.signout': '退出',
      'm.bal.h': '余额',
      'm.available': '可用',
      'm.pending': '待释放',
      'm.debt': '欠扣',
      'm.lots.h': '积分批次',
      'm.lots.caption': '每批积分的来源、释放与到期日期',
      'm.lot.points': '积分',
      'm.lot.remaining': '剩余',
      'm.lot.merchant': '商户',
      'm.lot.earned': '获得于',
      'm.lot.release': '释放于',
      'm.lot.expires': '到期于',
      'm.lot.rule': '规则版本',
      'm.lot.state': '状态',
      'm.hist.h': '明细',
      'm.hist.caption': '最近的积分变动',
      'm.hist.time': '时间',
      'm.hist.kind': '类型',
      'm.hist.change': '变动',
      'm.hist.ref': '详情与计算',
      'm.b.buy': '{merchant} · 消费 {amount} · 规则 {version}',
      'm.b.version': '第 {n} 版',
      'm.b.eligible': '计积分金额 {amount}',
      'm.b.excluded': '（不计积分的商品 {amount}）',
      'm.b.base': '基础积分 {points}',
      'm.b.bonus': '加成 {code} ×{factor}：+{points}',
      'm.b.cap': '上限 {code}（{limit}）：−{points}',
      'm.b.total': '合计 {points} 积分',
      'm.b.flat': '按消费额的 {pct} 计积分',
      'm.b.flatcap': '，每笔最多 {max} 积分',
      'm.b.plugin': '由规则插件“{name}”计算',
      'm.hist.verify': '核验',
      'm.v.button': '核验这笔',
      'm.v.ok': '✓ 已在日志中：第 {index} 条（共 {size} 条），检查点 {time}，根 {root}…',
      'm.v.bad': '✗ 核验失败：{reason}',
      'm.v.pending': '尚未封存进检查点，请几秒后再试。',
      'm.v.note': '“核验这笔”在您的浏览器中检查：服务器给出的条目正是这笔交易，且其 SM3 Merkle 审计路径通向已签名检查点的根。检查点的 SM2 签名可在透明度页面用 OpenSSL 自行验证。',
      'm.rc.h': '付款码',
      'm.rc.lead': '在收银台出示此码即可用积分抵扣；码仅限一次，约 60 秒内有效。',
      'm.rc.show': '生成付款码',
      'm.rc.digits': '付款码数字',
      'm.rc.qr': '付款码二维码，内容为 {code}',
      'm.rc.expires': '有效至',
      'm.rc.expired': '已过期，请重新生成。',
      'kind.fund': '充值', 'kind.earn': '获得', 'kind.redeem': '抵扣', 'kind.release': '释放',
      'kind.expire': '过期', 'kind.refund_earn': '退货扣回', 'kind.refund_redeem': '退货退还',
      'state.pending': '待释放', 'state.available': '可用', 'state.closed': '已用完', 'state.expired': '已过期',
      // operator
      'o.title': '运营后台 · 联盟积分',
      'o.h1': '运营后台',
      'o.token': '运营令牌',
      'o.token.help': '使用具名运营令牌（见 README“Operator access”）；令牌只保存在本标签页。',
      'o.signin': '进入',
      'o.signout': '退出',
      'o.totals.h': '总览',
      'o.reserve': '备付金',
      'o.outstanding': '流通积分',
      'o.coverage': '覆盖率',
      'o.merchants.h': '商户',
      'o.plugins.h': '插件',
      'o.plugins.caption': '插件进程的健康状况（按配置顺序）',
      'o.plugins.name': '名称', 'o.plugins.kind': '类型', 'o.plugins.state': '状态', 'o.plugins.restarts': '重启次数',
      'o.plugins.circuit': '熔断器', 'o.plugins.error': '最近错误',
      'o.plugins.none': '本网关未运行插件。',
      'o.plugins.required': '（必需）',
      'o.dead.h': '死信事件',
      'o.dead.caption': '收银系统推送多次处理失败后停下的事件，附原因；原因修好后可重放',
      'o.dead.merchant': '商户', 'o.dead.conn': '连接', 'o.dead.type': '事件', 'o.dead.attempts': '尝试次数',
      'o.dead.received': '收到', 'o.dead.reason': '原因', 'o.dead.replay': '重放', 'o.dead.none': '没有死信事件。',
      'o.dead.replayed': '已放回队列：',
      'o.recon.h': '对账差异',
      'o.recon.caption': '账本与支付渠道账单的差异',
      'o.recon.date': '账单日期', 'o.recon.channel': '渠道（留空为全部）', 'o.recon.show': '查看', 'o.recon.ch': '渠道',
      'o.recon.kind': '类型', 'o.recon.line': '业务', 'o.recon.tx': '交易', 'o.recon.ref': '渠道单号',
      'o.recon.ledger': '账本（元）', 'o.recon.bill': '账单（元）', 'o.recon.detail': '说明', 'o.recon.none': '这一天没有差异。',
      'o.audit.h': '审计日志',
      'o.audit.caption': '管理操作，最新的在前',
      'o.audit.time': '时间', 'o.audit.kind': '操作', 'o.audit.actor': '操作者', 'o.audit.subject': '对象',
      'o.merchants.caption': '全部商户',
      'o.id': '编号',
      'o.name': '名称',
      'o.industry': '行业',
      'o.status': '状态',
      'o.open': '查看',
      'o.create.h': '新建商户',
      'o.create': '创建',
      'o.detail.h': '商户详情',
      'o.budget': '预算（积分）',
      'o.payable': '应付（元）',
      'o.stores.h': '门店',
      'o.store.name': '门店名称',
      'o.store.add': '添加门店',
      'o.creds.h': 'API 凭证',
      'o.cred.id': '凭证编号',
      'o.cred.alg': '算法',
      'o.cred.scopes': '权限',
      'o.cred.status': '状态',
      'o.cred.create': '新建 HMAC 凭证',
      'o.cred.secret': '新凭证的密钥只显示这一次：',
      'o.cred.revoke': '吊销',
      'o.fund.h': '充值',
      'o.fund.amount': '金额（分）',
      'o.fund.ref': '支付流水号',
      'o.fund.do': '充值',
      'o.fund.done': '已充值。',
      'o.suspend': '暂停',
      'o.activate': '恢复',
    },
    en: {
      'skip': 'Skip to content',
      'nav.label': 'Pages',
      'nav.transparency': 'Transparency',
      'nav.member': 'Member',
      'nav.operator': 'Operator',
      'nav.merchant': 'Merchant console',
      'lang.switch': '中文',
      'loading': 'Loading…',
      'error': 'Error: ',
      'none': 'None yet',
      'more': 'Load more',
      'yes': 'yes',
      'no': 'no',
      't.title': 'Alliance transparency · Lianmeng',
      't.h1': 'Alliance transparency',
      't.lead': 'Every point is backed by cash, every rule is public, and every entry can be checked by you.',
      't.cov.h': 'Reserve coverage',
      't.cov.reserve': 'Reserve',
      't.cov.outstanding': 'Outstanding points',
      't.cov.face': 'Face value of a point',
      't.cov.asof': 'As of',
      't.cov.ok': 'Every outstanding point is fully backed by the reserve.',
      't.cov.short': 'The reserve does NOT cover every outstanding point!',
      't.cov.meter': 'Coverage',
      't.cov.history': 'The charts below come from daily snapshots: computed from the ledger after each day ends, never changed afterwards.',
      't.h.h': 'Daily history',
      't.h.cov': 'Reserve coverage (end of each day)',
      't.h.pts': 'Points issued, redeemed and expired per day',
      't.h.table': 'Data table',
      't.h.caption': 'The last {n} days',
      't.h.day': 'Day',
      't.h.coverage': 'Coverage',
      't.h.outstanding': 'Outstanding points',
      't.h.issued': 'Issued',
      't.h.redeemed': 'Redeemed',
      't.h.expired': 'Expired',
      't.h.empty': 'No daily figures yet: the first appear when a day ends.',
      't.h.covalt': 'Line chart of coverage over {n} days, latest {last}; the figures are in the table below.',
      't.h.ptsalt': 'Bar chart of points per day over {n} days: {i} issued, {r} redeemed, {e} expired in all; the figures are in the table below.',
      't.m.h': 'Merchants and their earning rules',
      't.m.caption': 'How members earn at each merchant today',
      't.m.name': 'Merchant',
      't.m.industry': 'Industry',
      't.m.status': 'Status',
      't.m.terms': 'How you earn',
      't.m.active': 'active',
      't.m.suspended': 'suspended',
      't.m.flat': 'Spend ¥100, earn {pts} points (worth {val}: {pct} back)',
      't.m.zero': 'No points are issued at the moment',
      't.m.cap': ', at most {max} points per purchase',
      't.m.plugin': 'Computed by the industry rule plugin "{name}"',
      't.m.empty': 'No merchants yet.',
      't.m.next': 'Scheduled change',
      't.m.nochange': 'None',
      't.m.when': 'Version {v} takes effect on {date} (in {left}): ',
      't.m.days': '{d} days {h} hours',
      't.m.worse': ' (less favourable to members)',
      'term.rate_bp': 'rate',
      'term.max_points': 'cap per purchase (points, 0 = none)',
      'term.release_delay_seconds': 'wait before release',
      'term.validity_seconds': 'validity',
      'term.excluded_categories': 'categories that earn nothing',
      'term.expression': 'formula',
      'term.rule_plugin': 'rule plugin',
      'term.summary': 'summary',
      'term.points': 'points on sample purchases',
      't.cp.h': 'Latest signed checkpoint',
      't.cp.lead': 'Every ledger entry and every administrative action goes into an SM3 hash chain and a Merkle tree; the alliance signs checkpoints with SM2.',
      't.cp.origin': 'Log origin',
      't.cp.size': 'Entries',
      't.cp.root': 'Merkle root',
      't.cp.chain': 'Chain head',
      't.cp.time': 'Time',
      't.cp.key': 'Key id',
      't.cp.witnesses': 'Witness cosignatures',
      't.w.none': 'No witnesses are configured: this checkpoint carries only the alliance\'s own signature.',
      't.w.ok': '{n} witnesses cosigned (quorum {q}): {names}',
      't.w.short': 'Warning: only {n} witnesses cosigned, fewer than the quorum of {q}. Do not treat this checkpoint as evidence that cannot be rolled back until the witnesses confirm it.',
      't.cp.signed': 'Signed text',
      't.cp.pub': 'SM2 public key',
      't.cp.pending': 'No checkpoint has been written yet.',
      't.cp.unavailable': 'The evidence log is not enabled on this gateway.',
      't.v.h': 'Check it yourself',
      't.v.browser': 'This page checked the signature in your browser (with verify.js, served by this gateway):',
      't.v.sigok': '✓ valid signature (SM2/SM3, key id {id})',
      't.v.sigbad': '✗ invalid signature: {reason}',
      't.v.since': 'Against the checkpoint this browser saw last:',
      't.v.first': 'First visit: the checkpoint of size {size} is remembered; next time the page checks the log only grew.',
      't.v.same': '✓ the same as last time (size {size}).',
      't.v.grew': '✓ the log grew from {from} to {to} entries and the consistency proof holds: no earlier entry changed.',
      't.v.back': '✗ the log went backwards: {from} entries last time, {to} now!',
      't.v.fork': '✗ inconsistent with the checkpoint seen last time (a fork or a rewrite)!',
      't.v.unchecked': 'could not check: {reason}',
      't.v.lead': 'Nor need you trust this page and its script: download these three files and verify the signature yourself with OpenSSL 3 (which speaks SM2/SM3).',
      't.v.dl': 'Download',
      't.v.body': 'checkpoint body checkpoint.txt',
      't.v.sig': 'signature checkpoint.sig (DER)',
      't.v.pem': 'public key lianmeng-evidence.pem',
      't.v.cmd': 'Then run (it must print Signature Verified Successfully):',
      't.v.curl': 'Or fetch the three files from the command line:',
      't.v.keyid': 'Check that the key id matches the one the alliance publishes elsewhere; the last line of the checkpoint body names the same id.',
      't.v.go': 'From Go, sdk/evidence has ParseSignedCheckpoint and VerifyCheckpoint; consistency proofs are at /v1/evidence/consistency; docs/evidence.md is the specification.',
      'm.title': 'My points · Lianmeng',
      'm.h1': 'My points',
      'm.signin.h': 'Sign in',
      'm.phone': 'Phone number',
      'm.send': 'Send code',
      'm.code': 'Code',
      'm.verify': 'Sign in',
      'm.sent': 'A code is on its way by SMS.',
      'm.signout': 'Sign out',
      'm.bal.h': 'Balance',
      'm.available': 'Available',
      'm.pending': 'Pending',
      'm.debt': 'Owed',
      'm.lots.h': 'Lots',
      'm.lots.caption': 'Where each lot of points came from, when it is released and when it expires',
      'm.lot.points': 'Points',
      'm.lot.remaining': 'Remaining',
      'm.lot.merchant': 'Merchant',
      'm.lot.earned': 'Earned',
      'm.lot.release': 'Released',
      'm.lot.expires': 'Expires',
      'm.lot.rule': 'Rule version',
      'm.lot.state': 'State',
      'm.hist.h': 'History',
      'm.hist.caption': 'Recent changes to your points',
      'm.hist.time': 'Time',
      'm.hist.kind': 'Kind',
      'm.hist.change': 'Change',
      'm.hist.ref': 'Details and computation',
      'm.b.buy': '{merchant} · spent {amount} · rule {version}',
      'm.b.version': 'version {n}',
      'm.b.eligible': 'counted amount {amount}',
      'm.b.excluded': ' ({amount} of items that earn nothing)',
      'm.b.base': 'base {points} points',
      'm.b.bonus': 'bonus {code} ×{factor}: +{points}',
      'm.b.cap': 'cap {code} ({limit}): −{points}',
      'm.b.total': 'total {points} points',
      'm.b.flat': '{pct} of the amount in points',
      'm.b.flatcap': ', at most {max} points a purchase',
      'm.b.plugin': 'computed by the rule plugin "{name}"',
      'm.hist.verify': 'Verify',
      'm.v.button': 'Verify this one',
      'm.v.ok': '✓ In the log: entry {index} of {size}, checkpoint {time}, root {root}…',
      'm.v.bad': '✗ Does not verify: {reason}',
      'm.v.pending': 'Not sealed into a checkpoint yet; try again in a few seconds.',
      'm.v.note': '"Verify this one" checks in your browser that the entry the gateway serves is this transaction and that its SM3 Merkle audit path leads to the signed checkpoint\'s root. Check the checkpoint\'s SM2 signature yourself with OpenSSL on the transparency page.',
      'm.rc.h': 'Redemption code',
      'm.rc.lead': 'Show this code at the till to pay with points; it works once, for about 60 seconds.',
      'm.rc.show': 'Show a redemption code',
      'm.rc.digits': 'Redemption code digits',
      'm.rc.qr': 'Redemption code as a QR code, containing {code}',
      'm.rc.expires': 'Valid until',
      'm.rc.expired': 'Expired: make a new one.',
      'kind.fund': 'funding', 'kind.earn': 'earned', 'kind.redeem': 'redeemed', 'kind.release': 'released',
      'kind.expire': 'expired', 'kind.refund_earn': 'refund clawback', 'kind.refund_redeem': 'refund returned',
      'state.pending': 'pending', 'state.available': 'available', 'state.closed': 'used up', 'state.expired': 'expired',
      'o.title': 'Operator console · Lianmeng',
      'o.h1': 'Operator console',
      'o.token': 'Operator token',
      'o.token.help': 'Use a named operator token (README, "Operator access"); it is kept in this tab only.',
      'o.signin': 'Enter',
      'o.signout': 'Leave',
      'o.totals.h': 'Totals',
      'o.reserve': 'Reserve',
      'o.outstanding': 'Outstanding points',
      'o.coverage': 'Coverage',
      'o.merchants.h': 'Merchants',
      'o.plugins.h': 'Plugins',
      'o.plugins.caption': "The plugin processes' health (in configuration order)",
      'o.plugins.name': 'Name', 'o.plugins.kind': 'Kind', 'o.plugins.state': 'State', 'o.plugins.restarts': 'Restarts',
      'o.plugins.circuit': 'Circuit', 'o.plugins.error': 'Last error',
      'o.plugins.none': 'This gateway runs no plugin.',
      'o.plugins.required': ' (required)',
      'o.dead.h': 'Dead-lettered events',
      'o.dead.caption': 'POS webhook events that stopped after repeated failures, with the reason; replay once the cause is fixed',
      'o.dead.merchant': 'Merchant', 'o.dead.conn': 'Connection', 'o.dead.type': 'Event', 'o.dead.attempts': 'Attempts',
      'o.dead.received': 'Received', 'o.dead.reason': 'Reason', 'o.dead.replay': 'Replay', 'o.dead.none': 'No dead-lettered event.',
      'o.dead.replayed': 'Back in the queue: ',
      'o.recon.h': 'Reconciliation exceptions',
      'o.recon.caption': 'Differences between the ledger and a payment channel\'s bill',
      'o.recon.date': 'Bill date', 'o.recon.channel': 'Channel (empty: all)', 'o.recon.show': 'Show', 'o.recon.ch': 'Channel',
      'o.recon.kind': 'Kind', 'o.recon.line': 'Line', 'o.recon.tx': 'Transaction', 'o.recon.ref': 'Channel ref',
      'o.recon.ledger': 'Ledger (¥)', 'o.recon.bill': 'Bill (¥)', 'o.recon.detail': 'Detail', 'o.recon.none': 'No exception that day.',
      'o.audit.h': 'Audit log',
      'o.audit.caption': 'Administrative actions, newest first',
      'o.audit.time': 'Time', 'o.audit.kind': 'Action', 'o.audit.actor': 'By', 'o.audit.subject': 'Subject',
      'o.merchants.caption': 'All merchants',
      'o.id': 'Id',
      'o.name': 'Name',
      'o.industry': 'Industry',
      'o.status': 'Status',
      'o.open': 'Open',
      'o.create.h': 'New merchant',
      'o.create': 'Create',
      'o.detail.h': 'Merchant',
      'o.budget': 'Budget (points)',
      'o.payable': 'Payable',
      'o.stores.h': 'Stores',
      'o.store.name': 'Store name',
      'o.store.add': 'Add store',
      'o.creds.h': 'API credentials',
      'o.cred.id': 'Key id',
      'o.cred.alg': 'Algorithm',
      'o.cred.scopes': 'Scopes',
      'o.cred.status': 'Status',
      'o.cred.create': 'New HMAC credential',
      'o.cred.secret': 'The new credential\'s secret is shown this once:',
      'o.cred.revoke': 'Revoke',
      'o.fund.h': 'Fund',
      'o.fund.amount': 'Amount (fen)',
      'o.fund.ref': 'Payment reference',
      'o.fund.do': 'Fund',
      'o.fund.done': 'Funded.',
      'o.suspend': 'Suspend',
      'o.activate': 'Reactivate',
    },
  };

  const params = new URLSearchParams(location.search);
  let lang = params.get('lang') || localStorage.getItem('lianmeng.lang') || 'zh';
  if (!dict[lang]) lang = 'zh';
  const listeners = [];

  function t(key, vars) {
    let s = dict[lang][key] ?? dict.zh[key] ?? key;
    for (const [k, v] of Object.entries(vars || {})) s = s.replaceAll('{' + k + '}', String(v));
    return s;
  }

  function apply() {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
    for (const el of document.querySelectorAll('[data-i18n-label]')) el.setAttribute('aria-label', t(el.dataset.i18nLabel));
    // The switch names the other language in that language.
    const toggle = document.getElementById('lang-toggle');
    if (toggle) toggle.lang = lang === 'zh' ? 'en' : 'zh-CN';
    const title = document.querySelector('title[data-i18n]');
    if (title) document.title = t(title.dataset.i18n);
    listeners.forEach((f) => f());
  }

  function setLang(l) {
    lang = l;
    localStorage.setItem('lianmeng.lang', l);
    apply();
  }

  // onLang re-renders dynamic content when the language changes.
  function onLang(f) { listeners.push(f); }

  class APIError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }

  // api calls the gateway's JSON API; errors become APIError with the
  // stable code of the error model.
  async function api(method, path, body, token, headers) {
    const h = Object.assign({ Accept: 'application/json' }, headers || {});
    if (body !== undefined) h['Content-Type'] = 'application/json';
    if (token) h.Authorization = 'Bearer ' + token;
    const r = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
    const text = await r.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    if (!r.ok) {
      const e = (data && data.error) || {};
      throw new APIError(r.status, e.code || 'http_' + r.status, e.message || r.statusText);
    }
    return data;
  }

  // yuan formats integer fen as ¥ with two decimals, without floats.
  function yuan(fen) {
    const neg = fen < 0;
    const a = Math.abs(fen);
    const s = Math.trunc(a / 100).toLocaleString('en-US') + '.' + String(a % 100).padStart(2, '0');
    return (neg ? '-¥' : '¥') + s;
  }

  function num(n) { return Number(n).toLocaleString('en-US'); }

  // percent formats basis points (10000 = 100%) with two decimals.
  function percent(bp) { return Math.trunc(bp / 100) + '.' + String(Math.abs(bp % 100)).padStart(2, '0') + '%'; }

  function when(s) {
    if (!s) return '';
    const d = new Date(s);
    if (d.getUTCFullYear() <= 1) return '';
    return d.toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-GB', { hour12: false });
  }

  // el builds an element; text is set as text, never parsed as HTML.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c);
    return e;
  }

  function showError(err) {
    const box = document.getElementById('error');
    if (!box) return;
    box.textContent = err ? t('error') + (err.code ? '[' + err.code + '] ' : '') + err.message : '';
  }

  document.addEventListener('DOMContentLoaded', () => {
    const b = document.getElementById('lang-toggle');
    if (b) b.addEventListener('click', () => setLang(lang === 'zh' ? 'en' : 'zh'));
    apply();
  });

  return { t, api, yuan, num, percent, when, el, showError, onLang, APIError, get lang() { return lang; } };
})();
